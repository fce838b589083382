import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { useEffect, type ReactNode } from 'react'
import { BrowserRouter, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router'
import { ApiError, setUnauthenticatedHandler } from '../api/client'
import { ME, useMe } from '../auth/session'
import { ErrorBoundary } from '../components/ErrorBoundary'
import { Layout, Loading } from '../components/Layout'
import { LiveProvider } from '../live/LiveProvider'
import { AgencyPage } from '../pages/AgencyPage'
import { AuditPage } from '../pages/AuditPage'
import { ComposerPage } from '../pages/ComposerPage'
import { DraftPage } from '../pages/DraftPage'
import { InboxPage } from '../pages/InboxPage'
import { InvitationPage } from '../pages/InvitationPage'
import { NotificationsPage } from '../pages/NotificationsPage'
import { QueuePage } from '../pages/QueuePage'
import { SettingsPage } from '../pages/SettingsPage'
import { SignInPage } from '../pages/SignInPage'
import { WorkspacesPage } from '../pages/WorkspacesPage'

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx does not get better by asking again; a network failure might.
      retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
      refetchOnWindowFocus: true,
    },
  },
})

/** Signed-in screens: back to sign-in (and here again after) when the session ends. */
function SignedIn() {
  const me = useMe()
  const location = useLocation()
  const navigate = useNavigate()
  useEffect(() => {
    setUnauthenticatedHandler(() => {
      queryClient.clear()
      queryClient.setQueryData(ME, null)
      navigate(`/sign-in?expired=1&next=${encodeURIComponent(window.location.pathname)}`)
    })
  }, [navigate])
  if (me.isPending) return <Loading />
  if (!me.data) return <Navigate to={`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`} replace />
  return (
    <ErrorBoundary key={location.pathname}>
      <Routes>
        <Route index element={<WorkspacesPage />} />
        <Route path="workspaces" element={<WorkspacesPage choose />} />
        <Route path="agencies/:agencyId" element={<AgencyPage />} />
        <Route path="clients/:clientId/queue" element={<QueuePage />} />
        <Route path="clients/:clientId/inbox" element={<InboxPage />} />
        <Route path="clients/:clientId/compose" element={<ComposerPage />} />
        <Route path="clients/:clientId/audit" element={<AuditPage />} />
        <Route path="clients/:clientId/settings" element={<SettingsPage />} />
        <Route path="clients/:clientId/settings/:section" element={<SettingsPage />} />
        <Route path="drafts/:draftId" element={<DraftPage />} />
        <Route path="notifications" element={<NotificationsPage />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </ErrorBoundary>
  )
}

/** The live feed runs while someone is signed in; its state shows in the header. */
function Live({ children }: { children: ReactNode }) {
  const me = useMe()
  const navigate = useNavigate()
  return (
    <LiveProvider userId={me.data?.user.id ?? null} onSignedOut={() => navigate('/sign-in?expired=1')}>
      {children}
    </LiveProvider>
  )
}

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <Live>
          <Routes>
            <Route element={<Layout />}>
              <Route path="sign-in" element={<SignInPage />} />
              <Route path="invitations/:token" element={<InvitationPage />} />
              <Route path="*" element={<SignedIn />} />
            </Route>
          </Routes>
        </Live>
      </BrowserRouter>
    </QueryClientProvider>
  )
}
