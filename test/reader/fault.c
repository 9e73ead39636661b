/* fault: dies of SIGSEGV writing to an unmapped, recognisable address, so the kernel's core
 * carries an NT_SIGINFO with that si_addr (the reader's fault-location tests). */
int main(void) {
  *(volatile int *)0xdead010 = 1;
  return 0;
}
