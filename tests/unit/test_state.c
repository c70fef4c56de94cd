/* Tests of the state module. */
#include "common.h"

int main(void)
{
	Suite *s = suite_create("state");

	return test_main(s);
}
