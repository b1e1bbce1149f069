/** One function per API call the app makes. */

import { api, type Pagination } from './client';
import type {
  AccountStatus,
  Article,
  ArticleInput,
  ArticleSort,
  ArticleStatus,
  ArticleSummary,
  Category,
  LoginResponse,
  MediaFile,
  Notification,
  Role,
  Session,
  TwoFactorSetup,
  User,
} from './types';

export interface Page<T> {
  items: T[];
  pagination: Pagination;
}

function page<T>(data: T[], pagination: Pagination | undefined, fallbackLimit: number): Page<T> {
  return {
    items: data,
    pagination: pagination ?? { page: 1, limit: fallbackLimit, total: data.length, totalPages: 1 },
  };
}

const enc = encodeURIComponent;

// ---- auth ----------------------------------------------------------------------------------------

export const auth = {
  register: (body: { username: string; email: string; password: string; termsAccepted: boolean }) =>
    api.post<User>('/auth/register', body, { auth: false }).then((r) => r.data),
  login: (body: { email: string; password: string; totp?: string }) =>
    api.post<LoginResponse>('/auth/login', body, { auth: false }).then((r) => r.data),
  challenge: (body: { challenge: string; code: string }) =>
    api.post<LoginResponse>('/auth/2fa/challenge', body, { auth: false }).then((r) => r.data),
  logout: () => api.post<{ loggedOut: boolean }>('/auth/logout').then((r) => r.data),
  logoutAll: () => api.post<{ sessionsEnded: number }>('/auth/logout-all').then((r) => r.data),
  verifyEmail: (token: string) => api.post<User>('/auth/verify-email', { token }, { auth: false }).then((r) => r.data),
  resendVerification: (email: string) =>
    api.post<{ message: string }>('/auth/resend-verification', { email }, { auth: false }).then((r) => r.data),
  forgotPassword: (email: string) =>
    api.post<{ message: string }>('/auth/forgot-password', { email }, { auth: false }).then((r) => r.data),
  resetPassword: (token: string, newPassword: string) =>
    api
      .post<{ passwordReset: boolean; sessionsEnded: number }>('/auth/reset-password', { token, newPassword }, { auth: false })
      .then((r) => r.data),
  twoFactorSetup: () => api.post<TwoFactorSetup>('/auth/2fa/setup').then((r) => r.data),
  twoFactorVerify: (code: string) => api.post<{ twoFactorEnabled: boolean }>('/auth/2fa/verify', { code }).then((r) => r.data),
  twoFactorDisable: (code: string) => api.post<{ twoFactorEnabled: boolean }>('/auth/2fa/disable', { code }).then((r) => r.data),
  /** The OAuth providers the server has configured (public; possibly none). */
  oauthProviders: () =>
    api.get<{ providers?: unknown }>('/auth/oauth/providers', undefined, { auth: false }).then((r) => providerNames(r.data?.providers)),
};

/** The provider names in an answer, lower-case, each once; anything that is not a plain name is dropped. */
export function providerNames(raw: unknown): string[] {
  if (!Array.isArray(raw)) return [];
  const names = raw.filter((p): p is string => typeof p === 'string').map((p) => p.trim().toLowerCase());
  return names.filter((p, i) => /^[a-z0-9_-]+$/.test(p) && names.indexOf(p) === i);
}

/** Where the browser goes to start an OAuth sign-in (a full-page navigation, not fetch). */
export const oauthStartUrl = (provider: string) => `/api/v1/auth/oauth/${enc(provider)}`;

// ---- users ---------------------------------------------------------------------------------------

export const users = {
  me: () => api.get<User>('/users/me').then((r) => r.data),
  updateMe: (body: { displayName: string | null; bio: string | null }) => api.patch<User>('/users/me', body).then((r) => r.data),
  sessions: () => api.get<Session[]>('/users/me/sessions').then((r) => r.data),
  endSession: (id: string) => api.delete<{ revoked: string }>(`/users/me/sessions/${enc(id)}`).then((r) => r.data),
};

// ---- articles ------------------------------------------------------------------------------------

export interface ArticleQuery {
  page?: number;
  limit?: number;
  q?: string;
  category?: string;
  tag?: string;
  author?: string;
  status?: ArticleStatus;
  sort?: ArticleSort;
}

export const articles = {
  list: async (query: ArticleQuery): Promise<Page<ArticleSummary>> => {
    const r = await api.get<ArticleSummary[]>('/articles', { ...query });
    return page(r.data, r.meta?.pagination, query.limit ?? 20);
  },
  get: (slug: string) => api.get<Article>(`/articles/${enc(slug)}`).then((r) => r.data),
  create: (body: ArticleInput) => api.post<Article>('/articles', body).then((r) => r.data),
  update: (slug: string, body: Partial<ArticleInput>) => api.patch<Article>(`/articles/${enc(slug)}`, body).then((r) => r.data),
  remove: (slug: string) => api.delete<{ deleted: string }>(`/articles/${enc(slug)}`).then((r) => r.data),
  bookmark: (slug: string) => api.put<{ bookmarked: string }>(`/articles/${enc(slug)}/bookmark`).then((r) => r.data),
  unbookmark: (slug: string) => api.delete<{ bookmarked: null }>(`/articles/${enc(slug)}/bookmark`).then((r) => r.data),
  bookmarks: () => api.get<ArticleSummary[]>('/users/me/bookmarks').then((r) => r.data),
  categories: () => api.get<Category[]>('/categories', undefined, { auth: false }).then((r) => r.data),
};

// ---- media ---------------------------------------------------------------------------------------

export const media = {
  upload: (file: File) => {
    const form = new FormData();
    form.append('file', file, file.name);
    return api.post<MediaFile>('/media', form).then((r) => r.data);
  },
};

// ---- notifications -------------------------------------------------------------------------------

export const notifications = {
  list: async (pageNo: number, limit = 20): Promise<Page<Notification>> => {
    const r = await api.get<Notification[]>('/notifications', { page: pageNo, limit });
    return page(r.data, r.meta?.pagination, limit);
  },
  unreadCount: async (): Promise<number> => {
    const r = await api.get<Notification[]>('/notifications', { unread: true, limit: 1 });
    return r.meta?.pagination?.total ?? r.data.length;
  },
  markRead: (id: string) => api.post<Notification>(`/notifications/${enc(id)}/read`).then((r) => r.data),
  markAllRead: () => api.post<{ marked: number }>('/notifications/read-all').then((r) => r.data),
  sendTest: () => api.post<Notification>('/notifications/test').then((r) => r.data),
};

// ---- admin ---------------------------------------------------------------------------------------

/** The job dashboard (served by the API, outside the SPA): DASHBOARD_MOUNT in api/admin/dashboard.py. */
export const JOB_DASHBOARD_URL = '/admin/queues';

export const admin = {
  users: async (pageNo: number, limit = 25): Promise<Page<User>> => {
    const r = await api.get<User[]>('/admin/users', { page: pageNo, limit });
    return page(r.data, r.meta?.pagination, limit);
  },
  updateUser: (id: string, body: { role?: Role; status?: AccountStatus }) =>
    api.patch<User>(`/admin/users/${enc(id)}`, body).then((r) => r.data),
};
