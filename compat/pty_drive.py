#!/usr/bin/env python3
"""Drives an interactive program (a REPL) through a pseudo-terminal.

Usage: pty_drive.py [--env NAME=VALUE]... --prompt REGEX --quit TEXT
                    [--timeout SECONDS] -- COMMAND [ARG]...

Reads the inputs from standard input, one per line. Waits for the prompt,
types each input followed by Return, waits for the prompt again, and
finally types the quit text and waits for the program to exit.

Prints on standard output the lines of the session (escape sequences and
carriage returns stripped) that start with `R<digits> ` -- the results the
inputs print -- then `exit: <status>`. The whole transcript goes to
standard error. Exits 0 when the session ran to the end (whatever the
program's status), 2 on a timeout.

--env sets a variable in the program's environment only, so that an
LD_PRELOAD concerns the program under test, not this driver.
"""

import argparse
import os
import pty
import re
import select
import signal
import sys
import time

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
RESULT = re.compile(r"^R\d+ ")
READ_CHUNK = 65536
# After the prompt shows, wait this long for more output before typing, so
# that a prompt-like string in the middle of the output is not taken for it.
SETTLE_SECONDS = 0.1


def clean(raw):
    """The transcript as text, without escape sequences or carriage returns."""
    text = raw.decode("utf-8", errors="replace")
    return ESCAPE.sub("", text).replace("\r", "")


class Session:
    def __init__(self, fd, pid, timeout):
        self.fd = fd
        self.pid = pid
        self.timeout = timeout
        self.raw = b""

    def read_some(self, deadline):
        """Reads what is available until the deadline; False at EOF."""
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        ready, _, _ = select.select([self.fd], [], [], left)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, READ_CHUNK)
        except OSError:
            return False
        if not chunk:
            return False
        self.raw += chunk
        return True

    def wait_prompt(self, prompt, start):
        """Waits until the output since `start` ends with the prompt."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if prompt.search(clean(self.raw[start:])):
                settle = time.monotonic() + SETTLE_SECONDS
                before = len(self.raw)
                while time.monotonic() < settle:
                    if not self.read_some(settle):
                        break
                if len(self.raw) == before or prompt.search(clean(self.raw[start:])):
                    return True
                continue
            if not self.read_some(deadline):
                return False
        return False

    def type_line(self, text):
        os.write(self.fd, text.encode() + b"\r")

    def wait_exit(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if not self.read_some(deadline):
                break
        else:
            return None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(SETTLE_SECONDS)
        return None


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--quit", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command")
    return args


def spawn(args):
    env = dict(os.environ)
    for pair in args.env:
        name, _, value = pair.partition("=")
        env[name] = value
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvpe(args.command[0], args.command, env)
        finally:
            os._exit(127)
    return Session(fd, pid, args.timeout)


def fail(session, what):
    sys.stderr.write(clean(session.raw))
    sys.stderr.write(f"\npty_drive: timed out {what}\n")
    os.kill(session.pid, signal.SIGKILL)
    sys.exit(2)


def main():
    args = parse_args()
    prompt = re.compile(args.prompt + r"$")
    inputs = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    session = spawn(args)
    start = 0
    for text in [None] + inputs:
        if text is not None:
            start = len(session.raw)
            session.type_line(text)
        if not session.wait_prompt(prompt, start):
            fail(session, f"waiting for the prompt after {text!r}")
    session.type_line(args.quit)
    status = session.wait_exit()
    if status is None:
        fail(session, "waiting for the exit")
    transcript = clean(session.raw)
    sys.stderr.write(transcript)
    for line in transcript.split("\n"):
        if RESULT.match(line):
            print(line)
    print(f"exit: {status}")


if __name__ == "__main__":
    main()
