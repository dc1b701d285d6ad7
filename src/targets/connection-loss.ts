import type { ErrorCode } from '../lib/errors.js';

/** A connection the target lost (the bus, Podman's API) and what it did about it. */
export interface ConnectionLoss {
  code: ErrorCode;
  message: string;
  /** "connected again; ... made again", or that it gave up. */
  action: string;
}

export type ConnectionLossListener = (loss: ConnectionLoss) => void;

/** Who is told of the connections a target loses: a run, to record them as faults. */
export class ConnectionLossListeners {
  private readonly listeners = new Set<ConnectionLossListener>();

  /** Answers how to stop being told. */
  watch(listener: ConnectionLossListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  tell(loss: ConnectionLoss): void {
    for (const l of this.listeners) l(loss);
  }
}
