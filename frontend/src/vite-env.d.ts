/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Comma-separated OAuth providers configured on the server (google, linkedin, github). */
  readonly VITE_OAUTH_PROVIDERS?: string;
}
