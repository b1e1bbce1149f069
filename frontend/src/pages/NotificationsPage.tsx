import { useState } from 'react';
import { Link } from 'react-router-dom';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { notifications, type Page } from '../api/endpoints';
import type { Notification } from '../api/types';
import { UNREAD_KEY, notificationsKey, useLive } from '../live/LiveContext';
import { ErrorAlert, Loading, Pager, PageTitle, Status, formatDate } from '../components/ui';

function articleLink(n: Notification): string | null {
  const slug = n.data && typeof n.data.slug === 'string' ? n.data.slug : n.data && typeof n.data.articleSlug === 'string' ? n.data.articleSlug : null;
  return slug ? `/articles/${encodeURIComponent(slug)}` : null;
}

export default function NotificationsPage() {
  const [page, setPage] = useState(1);
  const queryClient = useQueryClient();
  const { status } = useLive();
  const list = useQuery({ queryKey: notificationsKey(page), queryFn: () => notifications.list(page), placeholderData: keepPreviousData });
  const [message, setMessage] = useState('');

  const markOne = useMutation({
    mutationFn: notifications.markRead,
    onSuccess: (updated) => {
      queryClient.setQueryData<Page<Notification>>(notificationsKey(page), (old) =>
        old ? { ...old, items: old.items.map((n) => (n.id === updated.id ? updated : n)) } : old,
      );
      queryClient.setQueryData<number>(UNREAD_KEY, (c) => Math.max(0, (c ?? 1) - 1));
      setMessage('Marked as read.');
    },
  });
  const markAll = useMutation({
    mutationFn: notifications.markAllRead,
    onSuccess: ({ marked }) => {
      queryClient.setQueryData<number>(UNREAD_KEY, 0);
      void queryClient.invalidateQueries({ queryKey: ['notifications', 'list'] });
      setMessage(marked ? `Marked ${marked} as read.` : 'Nothing to mark.');
    },
  });
  const sendTest = useMutation({
    mutationFn: notifications.sendTest,
    onSuccess: () => {
      setMessage('Test notification sent.');
      // Without the live connection, fetch it now; with it, the socket delivers it.
      if (status !== 'live') {
        void queryClient.invalidateQueries({ queryKey: ['notifications'] });
      }
    },
  });

  return (
    <section>
      <PageTitle title="Notifications">Notifications</PageTitle>
      <div className="actions">
        <button type="button" onClick={() => markAll.mutate()} disabled={markAll.isPending}>
          Mark all as read
        </button>
        <button type="button" className="button-secondary" onClick={() => sendTest.mutate()} disabled={sendTest.isPending}>
          Send a test notification
        </button>
      </div>
      {message ? <Status>{message}</Status> : null}
      <ErrorAlert error={markAll.error ?? markOne.error ?? sendTest.error} />
      {list.isPending ? <Loading label="Loading notifications…" /> : null}
      <ErrorAlert error={list.error} />
      {list.data ? (
        list.data.items.length === 0 ? (
          <Status className="empty">You have no notifications.</Status>
        ) : (
          <>
            <ul className="notification-list">
              {list.data.items.map((n) => {
                const link = articleLink(n);
                return (
                  <li key={n.id} className={n.readAt ? 'read' : 'unread'}>
                    <div>
                      <p className="notification-title">
                        {!n.readAt ? <span className="visually-hidden">Unread: </span> : null}
                        {link ? <Link to={link}>{n.title}</Link> : <strong>{n.title}</strong>}
                      </p>
                      {n.body ? <p>{n.body}</p> : null}
                      <p className="meta">
                        <time dateTime={n.createdAt}>{formatDate(n.createdAt)}</time>
                      </p>
                    </div>
                    {!n.readAt ? (
                      <button type="button" className="button-secondary" aria-label={`Mark as read: ${n.title}`} onClick={() => markOne.mutate(n.id)} disabled={markOne.isPending}>
                        Mark as read
                      </button>
                    ) : null}
                  </li>
                );
              })}
            </ul>
            <Pager pagination={list.data.pagination} onPage={setPage} />
          </>
        )
      ) : null}
    </section>
  );
}
