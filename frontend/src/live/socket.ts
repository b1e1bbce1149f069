/**
 * The live-notification WebSocket (/api/v1/ws), with reconnects.
 *
 * Protocol (api/notifications/socket.py): the client's first frame is `{"type":"auth","token":…}`; the
 * server answers `{"type":"ready"}`, then sends `{"type":"notification","notification":{…}}` and
 * `{"type":"ping"}` frames. The client may send `{"type":"ping"}` (answered `pong`); any other frame
 * type closes the socket, so server pings are not answered. Close code 4401 means "sign in again":
 * the next attempt forces a token refresh first.
 *
 * Reconnects back off exponentially (base · 2^attempt, capped, with jitter) and start over at the base
 * once the server said `ready`.
 */

import type { Notification } from '../api/types';

export type LiveStatus = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'offline';

export const CLOSE_UNAUTHENTICATED = 4401;

export interface SocketLike {
  readyState: number;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

export interface LiveOptions {
  url: string;
  /** A usable access token (force: refresh it first); null when signed out. */
  getToken: (force: boolean) => Promise<string | null>;
  createSocket?: SocketFactory;
  onNotification: (n: Notification) => void;
  onStatus?: (s: LiveStatus) => void;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** 0..1; the delay is scaled into [delay/2, delay]. */
  random?: () => number;
  /** Client keep-alive ping interval (0 disables). */
  pingIntervalMs?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** The delay before reconnect attempt `attempt` (0-based). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: number): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(raw / 2 + (raw / 2) * Math.min(1, Math.max(0, random)));
}

export class LiveConnection {
  private readonly opts: Required<Omit<LiveOptions, 'onStatus'>> & Pick<LiveOptions, 'onStatus'>;
  private socket: SocketLike | null = null;
  private attempts = 0;
  private stopped = true;
  private forceRefresh = false;
  private reconnectTimer: unknown = null;
  private pingTimer: unknown = null;
  private generation = 0;
  status: LiveStatus = 'idle';

  constructor(options: LiveOptions) {
    this.opts = {
      createSocket: (url) => new WebSocket(url) as unknown as SocketLike,
      baseDelayMs: 1000,
      maxDelayMs: 30_000,
      random: Math.random,
      pingIntervalMs: 0,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      ...options,
    };
  }

  /** Reconnect attempts since the last `ready`. */
  get attempt(): number {
    return this.attempts;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempts = 0;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.clearTimers();
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onopen = s.onmessage = s.onerror = null;
      s.onclose = null;
      try {
        s.close(1000, 'bye');
      } catch {
        /* ignore */
      }
    }
    this.setStatus('idle');
  }

  /** Connect now instead of waiting for the backoff (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this.stopped || this.status === 'live' || this.status === 'connecting') return;
    this.clearTimers();
    this.attempts = 0;
    void this.connect();
  }

  private setStatus(s: LiveStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.opts.onStatus?.(s);
  }

  private clearTimers(): void {
    if (this.reconnectTimer !== null) this.opts.clearTimer(this.reconnectTimer);
    if (this.pingTimer !== null) this.opts.clearTimer(this.pingTimer);
    this.reconnectTimer = this.pingTimer = null;
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.setStatus(this.attempts === 0 ? 'connecting' : 'reconnecting');
    let token: string | null;
    try {
      token = await this.opts.getToken(this.forceRefresh);
    } catch {
      // Network trouble while refreshing: try again later.
      if (gen !== this.generation || this.stopped) return;
      this.scheduleReconnect();
      return;
    }
    if (gen !== this.generation || this.stopped) return;
    if (!token) {
      // Signed out: nothing to connect as.
      this.stopped = true;
      this.setStatus('offline');
      return;
    }
    this.forceRefresh = false;
    let socket: SocketLike;
    try {
      socket = this.opts.createSocket(this.opts.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: 'auth', token }));
    };
    socket.onmessage = (ev: MessageEvent) => this.handleMessage(ev);
    socket.onerror = () => {
      /* a close event follows */
    };
    socket.onclose = (ev: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.pingTimer !== null) this.opts.clearTimer(this.pingTimer);
      this.pingTimer = null;
      if (this.stopped) return;
      if (ev.code === CLOSE_UNAUTHENTICATED) this.forceRefresh = true;
      this.scheduleReconnect();
    };
  }

  private handleMessage(ev: MessageEvent): void {
    let frame: unknown;
    try {
      frame = JSON.parse(String(ev.data));
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    const f = frame as { type?: unknown; notification?: unknown };
    switch (f.type) {
      case 'ready':
        this.attempts = 0;
        this.setStatus('live');
        this.schedulePing();
        break;
      case 'notification':
        if (f.notification && typeof f.notification === 'object') this.opts.onNotification(f.notification as Notification);
        break;
      default:
        break; // ping / pong: nothing to do
    }
  }

  private schedulePing(): void {
    if (!this.opts.pingIntervalMs) return;
    this.pingTimer = this.opts.setTimer(() => {
      this.pingTimer = null;
      if (this.socket && this.socket.readyState === 1) {
        this.socket.send(JSON.stringify({ type: 'ping' }));
        this.schedulePing();
      }
    }, this.opts.pingIntervalMs);
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempts, this.opts.baseDelayMs, this.opts.maxDelayMs, this.opts.random());
    this.attempts++;
    this.setStatus('reconnecting');
    if (this.reconnectTimer !== null) this.opts.clearTimer(this.reconnectTimer);
    this.reconnectTimer = this.opts.setTimer(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }
}

/** ws(s)://<this host>/api/v1/ws */
export function liveUrl(loc: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/api/v1/ws`;
}
