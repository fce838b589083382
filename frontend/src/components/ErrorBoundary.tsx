import { Component, type ErrorInfo, type ReactNode } from 'react'
import i18n from '../i18n'

/** A screen that fails to render says so (and offers a reload) instead of going blank. */
export class ErrorBoundary extends Component<{ children: ReactNode }, { failed: boolean }> {
  state = { failed: false }

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true }
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error('render failed', error, info.componentStack)
  }

  render(): ReactNode {
    if (!this.state.failed) return this.props.children
    return (
      <div role="alert" className="error">
        <p>{i18n.t('errors.generic')}</p>
        <button type="button" onClick={() => window.location.reload()}>
          {i18n.t('app.retry')}
        </button>
      </div>
    )
  }
}
