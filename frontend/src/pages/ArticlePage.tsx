import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError } from '../api/client';
import { articles } from '../api/endpoints';
import type { ArticleSummary } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { ErrorAlert, Loading, PageTitle, Status, formatDate } from '../components/ui';

export const BOOKMARKS_KEY = ['bookmarks'] as const;

export default function ArticlePage() {
  const { slug = '' } = useParams();
  const { user } = useAuth();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [notice, setNotice] = useState('');

  const article = useQuery({
    queryKey: ['articles', 'detail', slug, user?.id ?? null],
    queryFn: () => articles.get(slug),
    staleTime: 60_000, // each fetch counts a view
  });
  const bookmarks = useQuery({ queryKey: BOOKMARKS_KEY, queryFn: articles.bookmarks, enabled: !!user });
  const bookmarked = !!bookmarks.data?.some((b) => b.slug === slug);

  const toggle = useMutation({
    mutationFn: async (): Promise<unknown> => (bookmarked ? articles.unbookmark(slug) : articles.bookmark(slug)),
    onSuccess: () => {
      const a = article.data;
      queryClient.setQueryData<ArticleSummary[]>(BOOKMARKS_KEY, (old) =>
        bookmarked ? (old ?? []).filter((b) => b.slug !== slug) : a ? [a, ...(old ?? [])] : old,
      );
      setNotice(bookmarked ? 'Bookmark removed.' : 'Bookmarked.');
      void queryClient.invalidateQueries({ queryKey: BOOKMARKS_KEY });
    },
  });

  const remove = useMutation({
    mutationFn: () => articles.remove(slug),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['articles'] });
      navigate('/', { replace: true });
    },
  });

  if (article.isPending) return <Loading label="Loading the article…" />;
  if (article.error) {
    const notFound = article.error instanceof ApiError && article.error.status === 404;
    return (
      <section>
        <PageTitle title={notFound ? 'Article not found' : 'Error'}>{notFound ? 'Article not found' : 'Could not load the article'}</PageTitle>
        <ErrorAlert error={article.error} />
        <p>
          <Link to="/">Back to the articles</Link>
        </p>
      </section>
    );
  }
  const a = article.data;
  const canEdit = !!user && (user.id === a.author.id || user.role === 'admin' || user.role === 'moderator');

  return (
    <article className="article">
      <header className="article-header">
        <PageTitle title={a.title}>{a.title}</PageTitle>
        <p className="meta">
          {a.author.username ? <>By {a.author.username}</> : null}
          {a.publishedAt ? <> · Published {formatDate(a.publishedAt)}</> : null}
          {a.status === 'scheduled' && a.scheduledAt ? <> · Scheduled for {formatDate(a.scheduledAt)}</> : null}
          {a.status !== 'published' ? <span className="pill">{a.status}</span> : null}
          {' · '}
          <span>
            {a.views} {a.views === 1 ? 'view' : 'views'}
          </span>
        </p>
        {a.category || a.tags.length ? (
          <p className="tags">
            {a.category ? (
              <Link className="pill" to={`/?category=${encodeURIComponent(a.category.slug)}`}>
                {a.category.name}
              </Link>
            ) : null}
            {a.tags.map((t) => (
              <Link key={t} className="tag" to={`/?tag=${encodeURIComponent(t)}`}>
                #{t}
              </Link>
            ))}
          </p>
        ) : null}
        {user ? (
          <div className="actions">
            <button type="button" onClick={() => toggle.mutate()} disabled={toggle.isPending || bookmarks.isPending}>
              {bookmarked ? 'Remove bookmark' : 'Bookmark'}
            </button>
            {canEdit ? (
              <>
                <Link className="button button-secondary" to={`/articles/${encodeURIComponent(a.slug)}/edit`}>
                  Edit
                </Link>
                <button
                  type="button"
                  className="button-danger"
                  disabled={remove.isPending}
                  onClick={() => {
                    if (window.confirm(`Delete “${a.title}”? This cannot be undone.`)) remove.mutate();
                  }}
                >
                  Delete
                </button>
              </>
            ) : null}
          </div>
        ) : null}
        {notice ? <Status>{notice}</Status> : null}
        <ErrorAlert error={toggle.error ?? remove.error} />
      </header>
      {a.summary ? <p className="lead">{a.summary}</p> : null}
      {/* bodyHtml is sanitized by the server on the way in (api/articles: "HTML; sanitized"). */}
      <div className="prose" dangerouslySetInnerHTML={{ __html: a.bodyHtml }} />
    </article>
  );
}
