'use strict';
/*
 * The baseline `./dev bench api` measures the API against: Express 4 + node-postgres + Redis, serving
 * GET /api/v1/articles?page=&limit= with the same query shape and the same JSON body as the API
 * (published articles, newest first, author username, category {slug, name}, tag slugs sorted, views
 * plus the pending views of the Redis hash `neurmatic:article_views`, the total count).
 *
 * Environment: DATABASE_URL (one PostgreSQL node: node-postgres takes no multi-host URL), REDIS_URL
 * (redis://:password@host:port/db), PORT, HOST (default 127.0.0.1), PEER_MODE = cache | db, PG_POOL_SIZE
 * (default 10).
 *   cache: an anonymous read-through Redis cache like the API's (GET a key; on a miss, query and SET it
 *          with a 30 s TTL); requests with an Authorization header skip it, as the API's signed-in ones do.
 *   db:    every request goes to the database.
 *
 * Like the original service it has helmet's headers, but no rate limiter, CORS, compression or access
 * log: a lighter stack than the API's, so the comparison errs in the peer's favour.
 */

const crypto = require('node:crypto');
const express = require('express');
const helmet = require('helmet');
const Redis = require('ioredis');
const { Pool, types } = require('pg');

const MODE = process.env.PEER_MODE || 'cache';
if (!['cache', 'db'].includes(MODE)) {
  console.error(`PEER_MODE must be cache or db, not ${MODE}`);
  process.exit(2);
}
for (const name of ['DATABASE_URL', 'REDIS_URL', 'PORT']) {
  if (!process.env[name]) {
    console.error(`${name} is required`);
    process.exit(2);
  }
}

const PENDING_VIEWS = 'neurmatic:article_views';
const CACHE_PREFIX = 'neurmatic:peer:articles:list:';
const CACHE_TTL_SECONDS = 30;
const MAX_PAGE = 10000;
const MAX_LIMIT = 100;

// int8 (views) as a number; timestamptz as PostgreSQL's text, reformatted below as Python's isoformat().
types.setTypeParser(20, (value) => Number(value));
types.setTypeParser(1184, (value) => value);

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.PG_POOL_SIZE || 10),
  options: '-c TimeZone=UTC',
});
const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 2 });

const PAGE_SQL = `
SELECT a.id, a.slug, a.title, a.summary, a.status, a.author_id, u.username,
       c.slug AS category_slug, c.name AS category_name,
       coalesce((SELECT array_agg(t.slug ORDER BY t.slug)
                 FROM article_tags at JOIN tags t ON t.id = at.tag_id
                 WHERE at.article_id = a.id), '{}') AS tags,
       a.views, a.scheduled_at, a.published_at, a.created_at, a.updated_at
FROM articles a
JOIN users u ON u.id = a.author_id
LEFT JOIN categories c ON c.id = a.category_id
WHERE a.status = 'published'
ORDER BY a.published_at DESC NULLS LAST, a.created_at DESC
LIMIT $1 OFFSET $2`;
const COUNT_SQL = "SELECT count(*)::int AS total FROM articles WHERE status = 'published'";

const TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))?([+-]\d\d)(?::?(\d\d))?$/;

/** "2026-11-26 06:53:43.10221+00" -> "2026-11-26T06:53:43.102210+00:00", as Python's isoformat(). */
function isoformat(text) {
  if (text === null) return null;
  const m = TIMESTAMP.exec(text);
  if (!m) return text;
  const fraction = m[3] ? `.${m[3].padEnd(6, '0')}` : '';
  return `${m[1]}T${m[2]}${fraction}${m[4]}:${m[5] || '00'}`;
}

function validationError(res, field) {
  res.status(422).json({
    success: false,
    error: {
      code: 'VALIDATION_ERROR',
      message: 'the request is not valid',
      details: [{ field, message: 'must be a whole number in range' }],
    },
  });
}

function bounded(raw, fallback, max) {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d{1,6}$/.test(raw)) return null;
  const value = Number(raw);
  return value >= 1 && value <= max ? value : null;
}

async function listArticles(page, limit) {
  const [rows, count] = await Promise.all([
    pool.query(PAGE_SQL, [limit, (page - 1) * limit]),
    pool.query(COUNT_SQL),
  ]);
  const ids = rows.rows.map((row) => row.id);
  const pending = ids.length ? await redis.hmget(PENDING_VIEWS, ...ids) : [];
  const data = rows.rows.map((row, i) => ({
    id: row.id,
    slug: row.slug,
    title: row.title,
    summary: row.summary,
    status: row.status,
    author: { id: row.author_id, username: row.username },
    category: row.category_slug === null ? null : { slug: row.category_slug, name: row.category_name },
    tags: row.tags,
    views: row.views + (pending[i] === null ? 0 : Number(pending[i])),
    scheduledAt: isoformat(row.scheduled_at),
    publishedAt: isoformat(row.published_at),
    createdAt: isoformat(row.created_at),
    updatedAt: isoformat(row.updated_at),
  }));
  const total = count.rows[0].total;
  return JSON.stringify({
    success: true,
    data,
    meta: { pagination: { page, limit, total, totalPages: Math.ceil(total / limit) } },
  });
}

const app = express();
app.use(
  helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
      },
    },
    crossOriginResourcePolicy: { policy: 'same-site' },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
    strictTransportSecurity: { maxAge: 31536000, includeSubDomains: true },
  }),
);
app.use((req, res, next) => {
  res.setHeader('Permissions-Policy', 'geolocation=(), microphone=(), camera=(), payment=(), usb=()');
  res.setHeader('X-Request-ID', crypto.randomUUID().replace(/-/g, ''));
  next();
});

app.get('/health', async (req, res) => {
  try {
    await Promise.all([pool.query('SELECT 1'), redis.ping()]);
    res.json({ success: true, data: { status: 'ok', mode: MODE } });
  } catch (err) {
    res.status(503).json({ success: false, error: { code: 'SERVICE_UNAVAILABLE', message: String(err) } });
  }
});

app.get('/api/v1/articles', async (req, res, next) => {
  try {
    const page = bounded(req.query.page, 1, MAX_PAGE);
    if (page === null) return validationError(res, 'page');
    const limit = bounded(req.query.limit, 20, MAX_LIMIT);
    if (limit === null) return validationError(res, 'limit');
    res.setHeader('Cache-Control', 'no-cache');
    res.type('json');
    const cacheable = MODE === 'cache' && !req.headers.authorization;
    const mark = req.originalUrl.indexOf('?');
    const key = CACHE_PREFIX + (mark === -1 ? '' : req.originalUrl.slice(mark + 1));
    if (cacheable) {
      const cached = await redis.get(key);
      if (cached !== null) {
        res.setHeader('X-App-Cache', 'HIT');
        return res.send(cached);
      }
    }
    const body = await listArticles(page, limit);
    if (cacheable) {
      await redis.set(key, body, 'EX', CACHE_TTL_SECONDS);
      res.setHeader('X-App-Cache', 'MISS');
    }
    return res.send(body);
  } catch (err) {
    return next(err);
  }
});

app.use((req, res) => {
  res.status(404).json({ success: false, error: { code: 'NOT_FOUND', message: 'no such route' } });
});

// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  console.error(err);
  res.status(500).json({ success: false, error: { code: 'INTERNAL_ERROR', message: 'internal error' } });
});

const server = app.listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1', () => {
  console.log(`express peer (${MODE}) on ${process.env.HOST || '127.0.0.1'}:${process.env.PORT}`);
});

function shutdown() {
  server.close(() => {
    Promise.allSettled([pool.end(), redis.quit()]).then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
