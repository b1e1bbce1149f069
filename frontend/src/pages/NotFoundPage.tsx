import { Link, useLocation } from 'react-router-dom';
import { PageTitle } from '../components/ui';

export default function NotFoundPage() {
  const location = useLocation();
  return (
    <section className="narrow">
      <PageTitle title="Page not found">Page not found</PageTitle>
      <p>
        There is no page at <code>{location.pathname}</code>.
      </p>
      <p>
        <Link to="/">Go to the articles</Link>
      </p>
    </section>
  );
}
