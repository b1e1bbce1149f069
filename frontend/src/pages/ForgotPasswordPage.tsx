import { Link } from 'react-router-dom';
import { auth } from '../api/endpoints';
import { PageTitle } from '../components/ui';
import { EmailLinkForm } from '../components/forms';

export default function ForgotPasswordPage() {
  return (
    <section className="narrow">
      <PageTitle title="Reset your password">Reset your password</PageTitle>
      <p>Enter the email address of your account and we will send you a link to choose a new password.</p>
      <EmailLinkForm send={auth.forgotPassword} submitLabel="Send reset link" />
      <p>
        <Link to="/login">Back to sign in</Link>
      </p>
    </section>
  );
}
