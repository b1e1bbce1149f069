/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// No @vitejs/plugin-react: Vite compiles TSX itself (automatic JSX runtime, from tsconfig "jsx").
// The API is same-origin in production; in development the dev server proxies /api (and its
// WebSocket) to the local HTTPS front door, whose certificate is self-signed (secure: false).
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2020',
    rolldownOptions: {
      onwarn(warning, warn) {
        // TanStack Query's "use client" directives mean nothing outside React Server Components.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  server: {
    proxy: {
      '/api': {
        target: 'https://127.0.0.1:18443',
        secure: false,
        changeOrigin: false,
        ws: true,
      },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test-setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
  },
});
