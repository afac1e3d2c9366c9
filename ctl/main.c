/* main.c -- evtaskctl's entry point; everything else is in libctl.a. */

#include "ctl.h"

/* Run one evtaskctl command line. */
int
main(int argc, char **argv)
{
	return ctl_main(argc, argv);
}
