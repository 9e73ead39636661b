/* plt: a few imports, each called through the PLT, for the PLT/GOT reader tests (linked in
 * several ways: lazy, IBT .plt.sec, -z now, -fno-plt, i386 PIC and non-PIC). Never run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  puts("plt");
  printf("%zu\n", strlen(argv[0]));
  if (argc > 5) exit(3);
  pause();
  return 0;
}
