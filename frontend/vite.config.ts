import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// The API runs on the same origin in production; in `npm run dev` Vite forwards to it.
const api = process.env.AGENCYHUB_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [react()],
  build: { sourcemap: false, assetsInlineLimit: 0 },
  server: {
    proxy: {
      '/api/v1/live': { target: api, ws: true, changeOrigin: false },
      '/api': { target: api, changeOrigin: false },
    },
  },
})
