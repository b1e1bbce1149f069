import { useEffect, useId, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { articles, type ArticleQuery } from '../api/endpoints';
import type { ArticleSort, ArticleStatus, ArticleSummary } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { ErrorAlert, Loading, Pager, PageTitle, Status, formatDate } from '../components/ui';

const SORTS: { value: ArticleSort; label: string }[] = [
  { value: '-publishedAt', label: 'Newest' },
  { value: 'publishedAt', label: 'Oldest' },
  { value: '-views', label: 'Most viewed' },
  { value: '-createdAt', label: 'Recently created' },
];
const PAGE_SIZE = 20;

export function ArticleCard({ article }: { article: ArticleSummary }) {
  return (
    <article className="card">
      <h2 className="card-title">
        <Link to={`/articles/${encodeURIComponent(article.slug)}`}>{article.title}</Link>
      </h2>
      <p className="meta">
        {article.author.username ? <>By {article.author.username}</> : null}
        {article.publishedAt ? <> · {formatDate(article.publishedAt)}</> : null}
        {article.status !== 'published' ? <span className="pill">{article.status}</span> : null}
        {' · '}
        {article.views} {article.views === 1 ? 'view' : 'views'}
      </p>
      {article.summary ? <p>{article.summary}</p> : null}
      {article.category || article.tags.length ? (
        <p className="tags">
          {article.category ? <span className="pill">{article.category.name}</span> : null}
          {article.tags.map((t) => (
            <span key={t} className="tag">
              #{t}
            </span>
          ))}
        </p>
      ) : null}
    </article>
  );
}

export function ArticleList({ items, emptyText }: { items: ArticleSummary[]; emptyText: string }) {
  if (items.length === 0) return <Status className="empty">{emptyText}</Status>;
  return (
    <div className="card-list">
      {items.map((a) => (
        <ArticleCard key={a.id} article={a} />
      ))}
    </div>
  );
}

export default function ArticleListPage() {
  const { user } = useAuth();
  const [params, setParams] = useSearchParams();
  const id = useId();
  const q = params.get('q') ?? '';
  const category = params.get('category') ?? '';
  const tag = params.get('tag') ?? '';
  const sort = (params.get('sort') as ArticleSort | null) ?? '-publishedAt';
  const status = (params.get('status') as ArticleStatus | null) ?? '';
  const page = Math.max(1, Number(params.get('page')) || 1);
  const [search, setSearch] = useState(q);
  const [tagText, setTagText] = useState(tag);

  useEffect(() => setSearch(q), [q]);
  useEffect(() => setTagText(tag), [tag]);

  const update = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    if (!('page' in changes)) next.delete('page');
    setParams(next);
  };

  // Search as you type (debounced), as well as on submit.
  useEffect(() => {
    if (search === q) return;
    const t = setTimeout(() => update({ q: search.trim() }), 400);
    return () => clearTimeout(t);
  }, [search]); // only the typed text restarts the timer

  const query: ArticleQuery = {
    page,
    limit: PAGE_SIZE,
    q: q || undefined,
    category: category || undefined,
    tag: tag || undefined,
    sort,
    status: status || undefined,
  };
  const list = useQuery({
    queryKey: ['articles', 'list', query, !!user],
    queryFn: () => articles.list(query),
    placeholderData: keepPreviousData,
  });
  const categories = useQuery({ queryKey: ['categories'], queryFn: articles.categories, staleTime: 5 * 60_000 });

  const hrefFor = (p: number) => {
    const next = new URLSearchParams(params);
    next.set('page', String(p));
    return `/?${next.toString()}`;
  };

  return (
    <section>
      <PageTitle title="Articles">Articles</PageTitle>
      <form
        role="search"
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          update({ q: search.trim(), tag: tagText.trim() });
        }}
      >
        <div className="field">
          <label htmlFor={`${id}-q`}>Search</label>
          <input id={`${id}-q`} type="search" value={search} onChange={(e) => setSearch(e.target.value)} maxLength={200} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-cat`}>Category</label>
          <select id={`${id}-cat`} value={category} onChange={(e) => update({ category: e.target.value })}>
            <option value="">All categories</option>
            {(categories.data ?? []).map((c) => (
              <option key={c.slug} value={c.slug}>
                {c.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-tag`}>Tag</label>
          <input
            id={`${id}-tag`}
            value={tagText}
            onChange={(e) => setTagText(e.target.value)}
            onBlur={() => tagText.trim() !== tag && update({ tag: tagText.trim() })}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-sort`}>Sort</label>
          <select id={`${id}-sort`} value={sort} onChange={(e) => update({ sort: e.target.value })}>
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </div>
        {user ? (
          <div className="field">
            <label htmlFor={`${id}-status`}>Show</label>
            <select id={`${id}-status`} value={status} onChange={(e) => update({ status: e.target.value })}>
              <option value="">Published</option>
              <option value="draft">My drafts</option>
              <option value="scheduled">My scheduled</option>
            </select>
          </div>
        ) : null}
        <div className="field field-button">
          <button type="submit">Apply filters</button>
        </div>
      </form>

      {list.isPending ? <Loading label="Loading articles…" /> : null}
      <ErrorAlert error={list.error} />
      {list.data ? (
        <>
          <p className="muted result-count" aria-live="polite">
            {list.isFetching && list.isPlaceholderData ? 'Updating…' : `${list.data.pagination.total} ${list.data.pagination.total === 1 ? 'article' : 'articles'}`}
          </p>
          <ArticleList items={list.data.items} emptyText={q || category || tag ? 'No articles match these filters.' : 'No articles yet.'} />
          <Pager pagination={list.data.pagination} hrefFor={hrefFor} />
        </>
      ) : null}
    </section>
  );
}
