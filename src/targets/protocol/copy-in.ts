import pg from 'pg';

interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(msg: string): void;
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

/**
 * `COPY ... FROM stdin` over the protocol, fed chunk by chunk: pg's own Query handles the
 * statement, its errors and its end; this adds what psql does with the lines that follow the
 * statement in a dump (send them as CopyData, then CopyDone), with the socket's backpressure.
 */
export class CopyFromStdin extends pg.Query {
  private connection?: CopyConnection;
  private readonly ready: Promise<void>;
  private readonly finished: Promise<void>;
  private failure?: Error;
  private resolveReady!: () => void;

  constructor(text: string) {
    super(text);
    this.ready = new Promise<void>((resolve) => (this.resolveReady = resolve));
    this.finished = new Promise<void>((resolve, reject) => {
      this.on('end', () => resolve());
      this.on('error', (err: Error) => {
        this.failure = err;
        reject(err);
      });
    });
    // Settled either way; the caller sees the error through send() or end().
    this.finished.catch(() => undefined);
    this.ready.catch(() => undefined);
  }

  /** Called by pg when the server is ready for the data. */
  handleCopyInResponse(connection: CopyConnection): void {
    this.connection = connection;
    this.resolveReady();
  }

  /** Sends one chunk of data lines; rejects once the server refused the COPY. */
  async send(chunk: Buffer): Promise<void> {
    await Promise.race([this.ready, this.finished]);
    if (this.failure) throw this.failure;
    const c = this.connection!;
    c.sendCopyFromChunk(chunk);
    if (c.stream.writableNeedDrain) await new Promise<void>((resolve) => c.stream.once('drain', () => resolve()));
  }

  /** The end of the data (`\.`): CopyDone, then the server's verdict. */
  async end(): Promise<void> {
    await Promise.race([this.ready, this.finished]);
    if (this.failure) throw this.failure;
    this.connection!.endCopyFrom();
    await this.finished;
  }
}
