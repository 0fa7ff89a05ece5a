/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sandboxctl-image: what `sandboxctl image ...` execs (client/main.c), with
 * argv starting at "image".  A program of its own so that the image
 * libraries load only for image commands.
 */
#include "client/cmd-image.h"

int main(int argc, char **argv)
{
    return sbx_cmd_image(argc, argv);
}
