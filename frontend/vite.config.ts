import react from '@vitejs/plugin-react'
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { defineConfig, type Plugin } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

const SWAGGER_UI_FILES = ['swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'swagger-ui.css']

/**
 * The API docs page (/schema) loads Swagger UI from the build, never from a CDN: it works
 * offline and under a same-origin CSP. The folder carries the version, so the year-long
 * immutable cache of /assets/ stays right across upgrades (the server looks it up).
 */
function swaggerUiAssets(): Plugin {
  return {
    name: 'agencyhub-swagger-ui-assets',
    apply: 'build',
    writeBundle(options) {
      const require = createRequire(import.meta.url)
      const root = path.dirname(require.resolve('swagger-ui-dist/package.json'))
      const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
      const target = path.join(options.dir ?? 'dist', 'assets', `swagger-ui-${version}`)
      mkdirSync(target, { recursive: true })
      for (const file of SWAGGER_UI_FILES) copyFileSync(path.join(root, file), path.join(target, file))
    },
  }
}

// The API runs on the same origin in production; in `npm run dev` Vite forwards to it.
const api = process.env.AGENCYHUB_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [
    react(),
    swaggerUiAssets(),
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
        globIgnores: ['assets/swagger-ui-*/**'], // the API docs' files: not the app's
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
