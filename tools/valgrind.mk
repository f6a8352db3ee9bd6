# Private Makevars for `make valgrind` (passed through R_MAKEVARS_USER):
# no optimisation and full debug information, for exact lines in reports.
CFLAGS = -g -O0 -Wall
