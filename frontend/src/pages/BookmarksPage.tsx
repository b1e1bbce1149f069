import { useQuery } from '@tanstack/react-query';
import { articles } from '../api/endpoints';
import { ErrorAlert, Loading, PageTitle } from '../components/ui';
import { ArticleList } from './ArticleListPage';
import { BOOKMARKS_KEY } from './ArticlePage';

export default function BookmarksPage() {
  const bookmarks = useQuery({ queryKey: BOOKMARKS_KEY, queryFn: articles.bookmarks });
  return (
    <section>
      <PageTitle title="Bookmarks">Bookmarks</PageTitle>
      {bookmarks.isPending ? <Loading label="Loading your bookmarks…" /> : null}
      <ErrorAlert error={bookmarks.error} />
      {bookmarks.data ? <ArticleList items={bookmarks.data} emptyText="You have no bookmarks yet. Use the Bookmark button on an article to keep it here." /> : null}
    </section>
  );
}
