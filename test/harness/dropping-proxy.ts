/**
 * A TCP proxy on 127.0.0.1 in front of one agent that cuts event streams: the first `drops`
 * connections whose request asks for /events are closed after `afterLines` newlines of the
 * answer (headers included) plus a few bytes, in the middle of a line, the way a network or
 * load balancer drops a long-lived connection. Everything else is passed through untouched.
 * It records the request head of every events connection (to check Last-Event-ID) and keeps it
 * in memory only: the head carries the bearer token.
 */
import net from 'node:net';

export interface DroppingProxy {
  url: string;
  /** Request heads of the events connections, in order. */
  eventRequests: string[];
  dropped(): number;
  close(): Promise<void>;
}

export async function startDroppingProxy(target: { host: string; port: number }, opts: { drops: number; afterLines: number }): Promise<DroppingProxy> {
  let dropped = 0;
  const eventRequests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    let cut: number | undefined;
    client.once('data', (first: Buffer) => {
      const head = first.toString('latin1');
      if (/^GET \S+\/events /.test(head)) {
        eventRequests.push(head.split('\r\n\r\n')[0]!);
        if (dropped < opts.drops) {
          dropped++;
          cut = opts.afterLines;
        }
      }
      upstream.write(first);
      client.pipe(upstream);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cut === undefined) return void client.write(chunk);
      let i = 0;
      for (; i < chunk.length && cut > 0; i++) if (chunk[i] === 0x0a) cut--;
      if (cut > 0) return void client.write(chunk);
      // The counted newlines and a few bytes of the next line, then the connection is gone.
      client.write(chunk.subarray(0, Math.min(chunk.length, i + 5)), () => end());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    eventRequests,
    dropped: () => dropped,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
