import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { notifications, type Page } from '../api/endpoints';
import type { Notification } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { LiveConnection, liveUrl, type LiveStatus } from './socket';

interface LiveState {
  status: LiveStatus;
  unread: number;
}

const LiveContext = createContext<LiveState>({ status: 'idle', unread: 0 });

export const UNREAD_KEY = ['notifications', 'unread'] as const;
export const notificationsKey = (page: number) => ['notifications', 'list', page] as const;

export function LiveProvider({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<LiveStatus>('idle');
  const signedIn = !!user;

  const unreadQuery = useQuery({
    queryKey: UNREAD_KEY,
    queryFn: notifications.unreadCount,
    enabled: signedIn,
    staleTime: 60_000,
  });

  useEffect(() => {
    if (!signedIn || typeof WebSocket === 'undefined') return;
    const connection = new LiveConnection({
      url: liveUrl(),
      getToken: (force) => api.freshAccessToken(force),
      pingIntervalMs: 45_000,
      onStatus: setStatus,
      onNotification: (n: Notification) => {
        queryClient.setQueryData<number>(UNREAD_KEY, (c) => (c ?? 0) + (n.readAt ? 0 : 1));
        queryClient.setQueryData<Page<Notification>>(notificationsKey(1), (old) =>
          old && !old.items.some((x) => x.id === n.id)
            ? {
                items: [n, ...old.items].slice(0, old.pagination.limit),
                pagination: { ...old.pagination, total: old.pagination.total + 1 },
              }
            : old,
        );
        void queryClient.invalidateQueries({ queryKey: ['notifications', 'list'] });
      },
    });
    connection.start();
    const online = () => connection.reconnectNow();
    const visible = () => {
      if (document.visibilityState === 'visible') connection.reconnectNow();
    };
    window.addEventListener('online', online);
    document.addEventListener('visibilitychange', visible);
    return () => {
      window.removeEventListener('online', online);
      document.removeEventListener('visibilitychange', visible);
      connection.stop();
      setStatus('idle');
    };
  }, [signedIn, queryClient]);

  return <LiveContext.Provider value={{ status, unread: signedIn ? unreadQuery.data ?? 0 : 0 }}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveState {
  return useContext(LiveContext);
}
