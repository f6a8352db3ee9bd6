# Private Makevars for `make sanitize` and `make fuzz` (passed through
# R_MAKEVARS_USER; ~/.R/Makevars is never touched): AddressSanitizer and
# UndefinedBehaviorSanitizer (plus float-to-int conversions that overflow,
# which -fsanitize=undefined leaves out), every UBSan check fatal, -O1 for
# usable stacks. R is not instrumented: the runtime is preloaded (Makefile).
CC = gcc -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS = -g -O1 -Wall -Wextra -Wno-unused-parameter -Wno-cast-function-type
