// Entry point: adopts a `?token=` from the URL, then mounts the app.

import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import './styles.css'
import App from './App'
import { adoptUrlToken } from './lib/api'

adoptUrlToken()

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
