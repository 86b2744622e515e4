/* msvcrtfn.c -- send two C library calls to msvcrt.dll instead of MinGW's
 * static replacements, which contain Pentium Pro instructions.
 *
 * MinGW's headers and import library do not always link the DLL's function:
 *
 *   strtod  <stdlib.h> renames it to __strtod, MinGW's own gdtoa-based
 *           parser in libmingwex (38 CMOV/FCOMI instructions).
 *   frexp   libmsvcrt.a carries a static frexp ahead of the DLL import
 *           (2 CMOV instructions).
 *
 * Both exist in every msvcrt.dll (Visual C++ 4.2 / NT 4.0 level onwards) and
 * run on any 386.  Defining the two names here keeps the archive members out
 * of the link; each forwards through the import table entry (__imp__NAME).
 * The toolchain's audit (toolchain/audit) proves that no P6 code is left.
 *
 * Link this file only with -nostartfiles MinGW builds (see winstart.c).
 */

extern double (*_imp__strtod)(const char *text, char **end);
extern double (*_imp__frexp)(double x, int *exponent);

double __strtod(const char *text, char **end);
double frexp(double x, int *exponent);

double __strtod(const char *text, char **end)
{
    return (*_imp__strtod)(text, end);
}

double frexp(double x, int *exponent)
{
    return (*_imp__frexp)(x, exponent);
}
