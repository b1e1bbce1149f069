import { describe, expect, it, vi } from 'vitest';
import { CLOSE_UNAUTHENTICATED, LiveConnection, backoffDelay, liveUrl, type LiveStatus, type SocketLike } from './socket';

class FakeSocket implements SocketLike {
  static instances: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  closed: { code?: number } | null = null;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.instances.push(this);
  }
  send(data: string) {
    this.sent.push(data);
  }
  close(code?: number) {
    this.closed = { code };
  }
  // server side
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent);
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code } as CloseEvent);
  }
}

/** Manual timers: run them when the test says so. */
function timers() {
  let id = 0;
  const pending = new Map<number, { fn: () => void; ms: number }>();
  return {
    setTimer: (fn: () => void, ms: number) => {
      pending.set(++id, { fn, ms });
      return id;
    },
    clearTimer: (h: unknown) => void pending.delete(h as number),
    delays: () => [...pending.values()].map((t) => t.ms),
    runAll: () => {
      const all = [...pending.entries()];
      pending.clear();
      all.forEach(([, t]) => t.fn());
    },
  };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function setup(getToken: (force: boolean) => Promise<string | null> = vi.fn(async (_force: boolean): Promise<string | null> => 'tok')) {
  FakeSocket.instances = [];
  const t = timers();
  const statuses: LiveStatus[] = [];
  const onNotification = vi.fn();
  const conn = new LiveConnection({
    url: 'wss://example.test/api/v1/ws',
    getToken,
    createSocket: (url) => new FakeSocket(url),
    onNotification,
    onStatus: (s) => statuses.push(s),
    baseDelayMs: 1000,
    maxDelayMs: 8000,
    random: () => 1, // no jitter: the full delay
    setTimer: t.setTimer,
    clearTimer: t.clearTimer,
  });
  return { conn, t, statuses, onNotification, getToken };
}

describe('backoffDelay', () => {
  it('doubles up to the cap, with jitter between half and all of it', () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, 1000, 8000, 1))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(backoffDelay(2, 1000, 8000, 0)).toBe(2000);
    expect(backoffDelay(2, 1000, 8000, 0.5)).toBe(3000);
  });
});

describe('LiveConnection', () => {
  it('authenticates with the first frame and goes live on ready', async () => {
    const { conn, statuses, onNotification } = setup();
    conn.start();
    await flush();
    const s = FakeSocket.instances[0];
    expect(s.url).toBe('wss://example.test/api/v1/ws');
    s.open();
    expect(JSON.parse(s.sent[0])).toEqual({ type: 'auth', token: 'tok' });
    s.receive({ type: 'ready', instance: 'api-1' });
    expect(conn.status).toBe('live');
    s.receive({ type: 'ping' }); // not answered: only "ping" is a valid client frame
    expect(s.sent).toHaveLength(1);
    const n = { id: 'n1', kind: 'test', title: 'Hello', body: null, data: null, readAt: null, createdAt: '2024-01-01T00:00:00Z' };
    s.receive({ type: 'notification', notification: n });
    expect(onNotification).toHaveBeenCalledWith(n);
    expect(statuses).toEqual(['connecting', 'live']);
  });

  it('reconnects with exponential backoff and resets after ready', async () => {
    const { conn, t } = setup();
    conn.start();
    await flush();
    FakeSocket.instances[0].drop();
    expect(conn.status).toBe('reconnecting');
    expect(t.delays()).toEqual([1000]);
    t.runAll();
    await flush();
    FakeSocket.instances[1].drop();
    expect(t.delays()).toEqual([2000]);
    t.runAll();
    await flush();
    FakeSocket.instances[2].drop();
    expect(t.delays()).toEqual([4000]);
    t.runAll();
    await flush();
    const s = FakeSocket.instances[3];
    s.open();
    s.receive({ type: 'ready' });
    expect(conn.status).toBe('live');
    s.drop();
    expect(t.delays()).toEqual([1000]); // back to the base delay
  });

  it('caps the delay', async () => {
    const { conn, t } = setup();
    conn.start();
    await flush();
    for (let i = 0; i < 6; i++) {
      FakeSocket.instances[i].drop();
      const [d] = t.delays();
      expect(d).toBeLessThanOrEqual(8000);
      t.runAll();
      await flush();
    }
    FakeSocket.instances[6].drop();
    expect(t.delays()).toEqual([8000]);
  });

  it('re-authenticates with a fresh token after a 4401 close', async () => {
    const getToken = vi.fn(async (force: boolean) => (force ? 'fresh' : 'old'));
    const { conn, t } = setup(getToken);
    conn.start();
    await flush();
    FakeSocket.instances[0].open();
    FakeSocket.instances[0].drop(CLOSE_UNAUTHENTICATED);
    t.runAll();
    await flush();
    expect(getToken).toHaveBeenLastCalledWith(true);
    FakeSocket.instances[1].open();
    expect(JSON.parse(FakeSocket.instances[1].sent[0])).toEqual({ type: 'auth', token: 'fresh' });
  });

  it('stops when signed out (no token) and on stop()', async () => {
    const getToken = vi.fn(async () => null as string | null);
    const { conn } = setup(getToken);
    conn.start();
    await flush();
    expect(FakeSocket.instances).toHaveLength(0);
    expect(conn.status).toBe('offline');

    const second = setup();
    second.conn.start();
    await flush();
    const s = FakeSocket.instances[0];
    second.conn.stop();
    expect(s.closed).toEqual({ code: 1000 });
    expect(second.t.delays()).toEqual([]);
    expect(second.conn.status).toBe('idle');
  });

  it('retries later when the token cannot be fetched', async () => {
    const getToken = vi.fn().mockRejectedValueOnce(new TypeError('offline')).mockResolvedValue('tok');
    const { conn, t } = setup(getToken);
    conn.start();
    await flush();
    expect(FakeSocket.instances).toHaveLength(0);
    expect(t.delays()).toEqual([1000]);
    t.runAll();
    await flush();
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('builds the URL from the page location', () => {
    expect(liveUrl({ protocol: 'https:', host: 'neurmatic.example' })).toBe('wss://neurmatic.example/api/v1/ws');
    expect(liveUrl({ protocol: 'http:', host: 'localhost:5173' })).toBe('ws://localhost:5173/api/v1/ws');
  });
});
