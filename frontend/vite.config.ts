import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

// The API runs on the same origin in production; in `npm run dev` Vite forwards to it.
const api = process.env.AGENCYHUB_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [
    react(),
    // Installable on a phone: a manifest and a service worker that caches the app
    // shell and its hashed assets only. API answers are never cached: navigations
    // under /api and /schema go to the network, and no runtime caching is configured.
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: 'script', // an external registerSW.js: the CSP allows no inline script
      includeAssets: ['favicon.svg'],
      manifest: {
        name: 'AgencyHub',
        short_name: 'AgencyHub',
        description: 'Approvals between agencies and their clients',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#f3f5f8',
        theme_color: '#1f3a5f',
        icons: [
          { src: '/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any maskable' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png}'],
        navigateFallback: '/index.html',
        navigateFallbackDenylist: [/^\/api\//, /^\/schema/, /^\/healthz/, /^\/readyz/],
        runtimeCaching: [],
        cleanupOutdatedCaches: true,
      },
    }),
  ],
  build: { sourcemap: false, assetsInlineLimit: 0 },
  server: {
    proxy: {
      '/api/v1/live': { target: api, ws: true, changeOrigin: false },
      '/api': { target: api, changeOrigin: false },
    },
  },
})
