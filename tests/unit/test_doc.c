/* Tests of the doc module. */
#include "common.h"

int main(void)
{
	Suite *s = suite_create("doc");

	return test_main(s);
}
