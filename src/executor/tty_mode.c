/* The parent's side of the user's terminal: its mode, raw while nsbox relays keys to the
 * payload's pty. Set here rather than with Bun's setRawMode, which restores the mode it saw
 * first when the process exits: from a background job (`bg` after Ctrl-Z) that write stops
 * nsbox with SIGTTOU instead of letting it exit, and would undo the shell's own mode. */
#include "nsbox.h"

#define TCGETS 0x5401
#define TCSETSW 0x5403

/* The kernel's struct termios (asm-generic/termbits.h; x86_64 and aarch64 alike): 36 bytes. */
struct kernel_termios { u32 iflag, oflag, cflag, lflag; unsigned char line, cc[19]; };

#define T_ISIG 0000001
#define T_ICANON 0000002
#define T_ECHO 0000010
#define T_IEXTEN 0100000
#define T_BRKINT 0000002
#define T_INPCK 0000020
#define T_ISTRIP 0000040
#define T_ICRNL 0000400
#define T_IXON 0002000
#define T_CS8 0000060
#define T_VTIME 5
#define T_VMIN 6

/* `raw` 1: save the mode of terminal `fd` in `saved` (36 bytes) and make it raw, as libuv's raw
 * mode: no echo, no line editing, no signals or flow control from keys, no CR translation,
 * output processing kept. `raw` 0: give it the mode in `saved` back. Each waits for pending
 * output first. 0 or -errno. */
int nsbox_terminal_mode(int fd, void *saved, int raw) {
  struct kernel_termios t;
  if (!raw) return ioctl(fd, TCSETSW, saved) < 0 ? -errno : 0;
  if (ioctl(fd, TCGETS, saved) < 0) return -errno;
  t = *(struct kernel_termios *)saved;
  t.iflag &= ~(T_BRKINT | T_ICRNL | T_INPCK | T_ISTRIP | T_IXON);
  t.cflag |= T_CS8;
  t.lflag &= ~(T_ECHO | T_ICANON | T_IEXTEN | T_ISIG);
  t.cc[T_VMIN] = 1;
  t.cc[T_VTIME] = 0;
  return ioctl(fd, TCSETSW, &t) < 0 ? -errno : 0;
}
