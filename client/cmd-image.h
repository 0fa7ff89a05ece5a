/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* sandboxctl image build|inspect; argv[0] is "image".  Returns the exit status. */
int sbx_cmd_image(int argc, char **argv);
