import { useState } from 'react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { admin, JOB_DASHBOARD_URL, type Page } from '../api/endpoints';
import type { AccountStatus, Role, User } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { ErrorAlert, Loading, Pager, PageTitle, Status, formatDate } from '../components/ui';

const ROLES: Role[] = ['user', 'premium', 'company', 'moderator', 'admin'];
const STATUSES: AccountStatus[] = ['active', 'suspended', 'banned', 'deleted'];

/** A table cell's select, labelled for screen readers only (the column header says it on screen). */
function CellSelect<T extends string>({
  id,
  label,
  value,
  options,
  disabled,
  onChange,
}: {
  id: string;
  label: string;
  value: T;
  options: readonly T[];
  disabled: boolean;
  onChange: (value: T) => void;
}) {
  return (
    <td>
      <label className="visually-hidden" htmlFor={id}>
        {label}
      </label>
      <select id={id} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value as T)}>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </td>
  );
}

export default function AdminUsersPage() {
  const { user: me } = useAuth();
  const [page, setPage] = useState(1);
  const [message, setMessage] = useState('');
  const queryClient = useQueryClient();
  const key = ['admin', 'users', page];
  const list = useQuery({ queryKey: key, queryFn: () => admin.users(page), placeholderData: keepPreviousData });
  const update = useMutation({
    mutationFn: ({ id, change }: { id: string; change: { role?: Role; status?: AccountStatus } }) => admin.updateUser(id, change),
    onSuccess: (updated) => {
      queryClient.setQueryData<Page<User>>(key, (old) => (old ? { ...old, items: old.items.map((u) => (u.id === updated.id ? updated : u)) } : old));
      setMessage(`${updated.username}: role ${updated.role}, status ${updated.status}.`);
    },
  });

  return (
    <section>
      <PageTitle title="Users">Users</PageTitle>
      <p>
        <a href={JOB_DASHBOARD_URL}>Open the job dashboard</a> (background jobs and queues).
      </p>
      {message ? <Status>{message}</Status> : null}
      <ErrorAlert error={update.error} />
      {list.isPending ? <Loading label="Loading users…" /> : null}
      <ErrorAlert error={list.error} />
      {list.data ? (
        <>
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">Accounts, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Email</th>
                  <th scope="col">Joined</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((u) => (
                  <tr key={u.id}>
                    <th scope="row">{u.username}</th>
                    <td>
                      {u.email} {u.emailVerified ? null : <span className="pill">unconfirmed</span>}
                    </td>
                    <td>{formatDate(u.createdAt)}</td>
                    <CellSelect
                      id={`role-${u.id}`}
                      label={`Role of ${u.username}`}
                      value={u.role}
                      options={ROLES}
                      disabled={update.isPending || u.id === me?.id}
                      onChange={(role) => update.mutate({ id: u.id, change: { role } })}
                    />
                    {/* A declined confirm changes nothing: the select is controlled, so it shows u.status again. */}
                    <CellSelect
                      id={`status-${u.id}`}
                      label={`Status of ${u.username}`}
                      value={u.status}
                      options={STATUSES}
                      disabled={update.isPending || u.id === me?.id}
                      onChange={(status) => {
                        if (status === 'active' || window.confirm(`Set ${u.username} to ${status}? This signs them out everywhere.`)) {
                          update.mutate({ id: u.id, change: { status } });
                        }
                      }}
                    />
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager pagination={list.data.pagination} onPage={setPage} />
        </>
      ) : null}
    </section>
  );
}
