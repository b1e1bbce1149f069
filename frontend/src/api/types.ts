/** Shapes of the API's `data`, as the server writes them (camelCase). */

export type Role = 'user' | 'premium' | 'company' | 'moderator' | 'admin';
export type AccountStatus = 'active' | 'suspended' | 'banned' | 'deleted';
export type ArticleStatus = 'draft' | 'scheduled' | 'published';
export type ArticleSort = '-publishedAt' | 'publishedAt' | '-views' | '-createdAt';

export interface User {
  id: string;
  email: string;
  username: string;
  displayName: string | null;
  bio: string | null;
  role: Role;
  status: AccountStatus;
  emailVerified: boolean;
  twoFactorEnabled: boolean;
  createdAt: string;
}

export interface LoginResponse {
  user: User;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: string;
}

export interface Session {
  id: string;
  device: string | null;
  userAgent: string | null;
  ip: string | null;
  createdAt: string;
  lastActiveAt: string;
  current: boolean;
}

export interface TwoFactorSetup {
  secret: string;
  otpauthUri: string;
  backupCodes: string[];
}

export interface Category {
  slug: string;
  name: string;
}

export interface ArticleSummary {
  id: string;
  slug: string;
  title: string;
  summary: string | null;
  status: ArticleStatus;
  author: { id: string; username: string | null };
  category: Category | null;
  tags: string[];
  views: number;
  scheduledAt: string | null;
  publishedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface Article extends ArticleSummary {
  /** Sanitized by the server on the way in. */
  bodyHtml: string;
}

export interface ArticleInput {
  title: string;
  summary: string | null;
  bodyHtml: string;
  status: ArticleStatus;
  scheduledAt: string | null;
  category: string | null;
  tags: string[];
}

export interface Notification {
  id: string;
  kind: string;
  title: string;
  body: string | null;
  data: Record<string, unknown> | null;
  readAt: string | null;
  createdAt: string;
}

export interface MediaFile {
  id: string;
  contentType: string;
  size: number;
  width: number | null;
  height: number | null;
  filename: string;
  status: string;
  url: string;
  createdAt: string;
}
