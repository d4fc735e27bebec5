// The messages between a worker and its local runner's helper process (over Node's IPC channel).
import type { RunResult, WorkflowDefinition } from './types.js';

export type HostRequest =
  | { type: 'run'; id: number; definition: WorkflowDefinition }
  | { type: 'abort'; id: number };

export type HostReply =
  | { type: 'result'; id: number; result: RunResult }
  /** The run threw: aborted (the worker asked), or a runner bug. */
  | { type: 'error'; id: number; aborted: boolean; message: string }
  /** A step's process group started or is gone: should the helper die, the worker kills the live ones. */
  | { type: 'step'; event: 'started' | 'ended'; pgid: number };

/** The helper's settings, its one command-line argument (JSON). */
export interface HostSettings {
  cacheRoot?: string | undefined;
  path?: string | undefined;
  logLevel: string;
}
