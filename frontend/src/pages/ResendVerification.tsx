import { auth } from '../api/endpoints';
import { EmailLinkForm } from '../components/forms';

/** Ask for a new verification link (the server answers the same for every address). */
export function ResendVerification({ email = '' }: { email?: string }) {
  return <EmailLinkForm email={email} send={auth.resendVerification} submitLabel="Send a new link" />;
}
