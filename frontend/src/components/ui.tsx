import { useEffect, useRef, type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import { detailLines, messageOf } from '../api/client';
import type { Pagination as PaginationInfo } from '../api/client';

/** An API (or any) error, announced: role="alert". Renders nothing without an error. */
export function ErrorAlert({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const lines = detailLines(error);
  return (
    <div role="alert" className="alert alert-error">
      {title ? <strong>{title} </strong> : null}
      <span>{messageOf(error)}</span>
      {lines.length > 0 ? (
        <ul>
          {lines.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A polite status message (aria-live). */
export function Status({ children, className = '' }: { children: ReactNode; className?: string }) {
  return (
    <p role="status" aria-live="polite" className={`status ${className}`.trim()}>
      {children}
    </p>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return <Status className="muted">{label}</Status>;
}

/** A field's validation message, tied to its input with aria-describedby. */
export function FieldError({ id, message }: { id: string; message?: string }) {
  if (!message) return null;
  return (
    <p id={id} className="field-error">
      {message}
    </p>
  );
}

/** Sets document.title and moves focus to the page heading on navigation. */
export function PageTitle({ children, title }: { children: ReactNode; title: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Neurmatic`;
  }, [title]);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}

export function Pager({ pagination, hrefFor, onPage }: { pagination: PaginationInfo; hrefFor?: (page: number) => string; onPage?: (page: number) => void }) {
  const { page, totalPages } = pagination;
  if (totalPages <= 1) return null;
  const item = (target: number, label: string, rel: string) => {
    const disabled = target < 1 || target > totalPages;
    if (disabled) return <span className="button button-secondary" aria-disabled="true">{label}</span>;
    if (hrefFor)
      return (
        <Link className="button button-secondary" to={hrefFor(target)} rel={rel}>
          {label}
        </Link>
      );
    return (
      <button type="button" className="button-secondary" onClick={() => onPage?.(target)}>
        {label}
      </button>
    );
  };
  return (
    <nav className="pager" aria-label="Pagination">
      {item(page - 1, 'Previous page', 'prev')}
      <span>
        Page {page} of {totalPages}
      </span>
      {item(page + 1, 'Next page', 'next')}
    </nav>
  );
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
