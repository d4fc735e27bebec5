// `taskfleet run`'s phase commands run in a process group of their own, so a signal reaches them once,
// through the lifecycle: SIGINT (a terminal's Ctrl-C) or SIGTERM (kill, systemd, Kubernetes) is passed
// on to the phase running now, which stops the way it stops by hand (migrate leaves its run resumable);
// the lifecycle records that phase and starts no other. A second signal is passed on too: the phase
// then stops at once.
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

export class SignalRelay {
  private received: NodeJS.Signals | null = null;
  private child: ChildProcess | null = null;
  private readonly relay = (signal: NodeJS.Signals): void => {
    this.received ??= signal;
    this.child?.kill(signal);
  };

  /** The first signal received since listen(); null: none. */
  heard(): NodeJS.Signals | null {
    return this.received;
  }

  listen(): void {
    this.received = null;
    process.on('SIGINT', this.relay);
    process.on('SIGTERM', this.relay);
  }

  close(): void {
    process.off('SIGINT', this.relay);
    process.off('SIGTERM', this.relay);
    this.child = null;
  }

  /** The phase command running now; null once it ended. */
  track(child: ChildProcess | null): void {
    this.child = child;
  }
}

/** The exit code a shell gives a process stopped by `signal`: 128 + its number (130 for SIGINT). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
