import { useId, useRef, useState } from 'react';
import { Link, useLocation, useNavigate, useParams } from 'react-router-dom';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useForm } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { z } from 'zod';
import { articles, media } from '../api/endpoints';
import type { Article, ArticleInput, ArticleStatus } from '../api/types';
import { ErrorAlert, FieldError, Loading, PageTitle, Status } from '../components/ui';
import { useSubmit } from '../components/forms';

const schema = z
  .object({
    title: z.string().trim().min(3, 'Use at least 3 characters.').max(200, 'Use at most 200 characters.'),
    bodyHtml: z.string().trim().min(1, 'Write some content.').max(200_000, 'The content is too long.'),
    summary: z.string().max(500, 'Use at most 500 characters.'),
    category: z.string(),
    tags: z
      .string()
      .refine((t) => parseTags(t).length <= 10, 'Use at most 10 tags.'),
    status: z.enum(['draft', 'published', 'scheduled']),
    scheduledAt: z.string(),
  })
  .superRefine((v, ctx) => {
    if (v.status !== 'scheduled') return;
    const when = new Date(v.scheduledAt);
    if (!v.scheduledAt || Number.isNaN(when.getTime())) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['scheduledAt'], message: 'Choose when to publish.' });
    } else if (when.getTime() <= Date.now()) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['scheduledAt'], message: 'Choose a time in the future.' });
    }
  });
type Values = z.infer<typeof schema>;

export function parseTags(text: string): string[] {
  const seen = new Set<string>();
  for (const raw of text.split(',')) {
    const tag = raw.trim();
    if (tag) seen.add(tag);
  }
  return [...seen];
}

/** ISO (UTC) → the value of a datetime-local input (local time). */
function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function escapeAttr(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function toInput(v: Values): ArticleInput {
  return {
    title: v.title.trim(),
    bodyHtml: v.bodyHtml,
    summary: v.summary.trim() || null,
    category: v.category || null,
    tags: parseTags(v.tags),
    status: v.status as ArticleStatus,
    scheduledAt: v.status === 'scheduled' ? new Date(v.scheduledAt).toISOString() : null,
  };
}

function fromArticle(a: Article): Values {
  return {
    title: a.title,
    bodyHtml: a.bodyHtml,
    summary: a.summary ?? '',
    category: a.category?.slug ?? '',
    tags: a.tags.join(', '),
    status: a.status,
    scheduledAt: toLocalInput(a.scheduledAt),
  };
}

const EMPTY: Values = { title: '', bodyHtml: '', summary: '', category: '', tags: '', status: 'draft', scheduledAt: '' };

function ArticleForm({ initial, slug }: { initial: Values; slug?: string }) {
  const id = useId();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const location = useLocation();
  const [uploadError, setUploadError] = useState<unknown>(null);
  const [uploading, setUploading] = useState('');
  const contentRef = useRef<HTMLTextAreaElement | null>(null);
  const form = useForm<Values>({ resolver: zodResolver(schema), defaultValues: initial });
  const { errors, isSubmitting } = form.formState;
  const status = form.watch('status');
  const categories = useQuery({ queryKey: ['categories'], queryFn: articles.categories, staleTime: 5 * 60_000 });

  const err = (name: keyof Values) => (errors[name]?.message ? { 'aria-invalid': true, 'aria-describedby': `${id}-${name}-err` } : {});
  const errText = (name: keyof Values) => <FieldError id={`${id}-${name}-err`} message={errors[name]?.message} />;

  const {
    onSubmit,
    error,
    message: saved,
  } = useSubmit(
    form,
    async (values) => {
      const body = toInput(values);
      const article = slug ? await articles.update(slug, body) : await articles.create(body);
      void queryClient.invalidateQueries({ queryKey: ['articles'] });
      if (article.status === 'published') {
        navigate(`/articles/${encodeURIComponent(article.slug)}`);
        return;
      }
      const message = article.status === 'scheduled' ? 'Saved; the article is scheduled.' : 'Saved as a draft.';
      if (!slug || slug !== article.slug) {
        queryClient.setQueryData(['articles', 'edit', article.slug], article);
        navigate(`/articles/${encodeURIComponent(article.slug)}/edit`, { replace: true, state: { saved: message } });
        return;
      }
      form.reset(fromArticle(article));
      return message;
    },
    {
      serverFields: ['title', 'bodyHtml', 'summary', 'category', 'tags', 'status', 'scheduledAt'],
      initialMessage: (location.state as { saved?: string } | null)?.saved ?? '',
    },
  );

  const insertAtCursor = (snippet: string) => {
    const el = contentRef.current;
    const value = form.getValues('bodyHtml');
    const start = el?.selectionStart ?? value.length;
    const end = el?.selectionEnd ?? value.length;
    const next = value.slice(0, start) + snippet + value.slice(end);
    form.setValue('bodyHtml', next, { shouldDirty: true, shouldValidate: !!errors.bodyHtml });
    requestAnimationFrame(() => {
      if (!el) return;
      el.focus();
      el.setSelectionRange(start + snippet.length, start + snippet.length);
    });
  };

  const upload = async (file: File) => {
    setUploadError(null);
    setUploading(`Uploading ${file.name}…`);
    try {
      const m = await media.upload(file);
      const name = escapeAttr(file.name.replace(/\.[^.]+$/, ''));
      const url = escapeAttr(m.url);
      insertAtCursor(m.contentType.startsWith('image/') ? `<img src="${url}" alt="${name}">` : `<a href="${url}">${name}</a>`);
      setUploading(`Uploaded ${file.name}; a link was inserted into the content.`);
    } catch (e) {
      setUploading('');
      setUploadError(e);
    }
  };

  const { ref: bodyRef, ...bodyReg } = form.register('bodyHtml');

  return (
    <form noValidate className="stack editor" onSubmit={onSubmit}>
      <div className="field">
        <label htmlFor={`${id}-title`}>Title</label>
        <input id={`${id}-title`} {...err('title')} {...form.register('title')} />
        {errText('title')}
      </div>
      <div className="field">
        <label htmlFor={`${id}-bodyHtml`}>Content</label>
        <p id={`${id}-body-hint`} className="hint">
          HTML: paragraphs, headings, lists, links and images are kept; anything else is removed when saved.
        </p>
        <textarea
          id={`${id}-bodyHtml`}
          rows={16}
          aria-describedby={[`${id}-body-hint`, errors.bodyHtml ? `${id}-bodyHtml-err` : ''].filter(Boolean).join(' ')}
          aria-invalid={errors.bodyHtml ? true : undefined}
          {...bodyReg}
          ref={(el) => {
            bodyRef(el);
            contentRef.current = el;
          }}
        />
        {errText('bodyHtml')}
      </div>
      <div className="field">
        <label htmlFor={`${id}-upload`}>Upload image</label>
        <input
          id={`${id}-upload`}
          type="file"
          accept="image/jpeg,image/png,image/webp,image/gif,application/pdf"
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) void upload(file);
            e.target.value = '';
          }}
        />
        {uploading ? <Status>{uploading}</Status> : null}
        <ErrorAlert error={uploadError} />
      </div>
      <div className="field">
        <label htmlFor={`${id}-summary`}>Excerpt</label>
        <textarea id={`${id}-summary`} rows={3} {...err('summary')} {...form.register('summary')} />
        {errText('summary')}
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor={`${id}-category`}>Category</label>
          <select id={`${id}-category`} {...err('category')} {...form.register('category')}>
            <option value="">No category</option>
            {(categories.data ?? []).map((c) => (
              <option key={c.slug} value={c.slug}>
                {c.name}
              </option>
            ))}
          </select>
          {errText('category')}
        </div>
        <div className="field">
          <label htmlFor={`${id}-tags`}>Tags</label>
          <input id={`${id}-tags`} aria-describedby={`${id}-tags-hint`} {...form.register('tags')} />
          <p id={`${id}-tags-hint`} className="hint">
            Separate tags with commas (at most 10).
          </p>
          {errText('tags')}
        </div>
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor={`${id}-status`}>Status</label>
          <select id={`${id}-status`} {...form.register('status')}>
            <option value="draft">Draft</option>
            <option value="published">Published</option>
            <option value="scheduled">Scheduled</option>
          </select>
        </div>
        {status === 'scheduled' ? (
          <div className="field">
            <label htmlFor={`${id}-scheduledAt`}>Publish at</label>
            <input id={`${id}-scheduledAt`} type="datetime-local" {...err('scheduledAt')} {...form.register('scheduledAt')} />
            {errText('scheduledAt')}
          </div>
        ) : null}
      </div>
      <ErrorAlert error={error} />
      {saved ? <Status>{saved}</Status> : null}
      <div className="actions">
        <button type="submit" disabled={isSubmitting}>
          Save
        </button>
        {slug ? (
          <Link className="button button-secondary" to={`/articles/${encodeURIComponent(slug)}`}>
            View article
          </Link>
        ) : null}
      </div>
    </form>
  );
}

export default function EditorPage() {
  const { slug } = useParams();
  const existing = useQuery({ queryKey: ['articles', 'edit', slug], queryFn: () => articles.get(slug!), enabled: !!slug, staleTime: 30_000 });

  if (!slug) {
    return (
      <section>
        <PageTitle title="Write an article">Write an article</PageTitle>
        <ArticleForm initial={EMPTY} />
      </section>
    );
  }
  return (
    <section>
      <PageTitle title="Edit article">Edit article</PageTitle>
      {existing.isPending ? <Loading label="Loading the article…" /> : null}
      <ErrorAlert error={existing.error} />
      {existing.data ? <ArticleForm key={slug} initial={fromArticle(existing.data)} slug={slug} /> : null}
    </section>
  );
}
