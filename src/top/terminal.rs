//! The terminal while the dashboard runs: raw mode and the alternate screen on entry, and the
//! terminal as it was on every way out: a return, an error, a panic (ratatui's hook restores
//! it before the panic is printed) and a signal (the loop sees the flag and returns).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::DefaultTerminal;

pub struct Screen {
    pub terminal: DefaultTerminal,
    stop: Arc<AtomicBool>,
}

impl Screen {
    /// Takes over the terminal. SIGTERM, SIGHUP and SIGINT (Ctrl-C is a key in raw mode, but
    /// `kill -INT` is not) end the loop instead of the process, so the terminal is restored.
    pub fn enter() -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGINT,
        ] {
            signal_hook::flag::register(sig, Arc::clone(&stop))?;
        }
        let terminal = ratatui::try_init()?;
        // When the terminal itself goes away (its window closed: SIGHUP), crossterm's input
        // poll can spin without returning to the loop; the loop then never sees the flag. A
        // watchdog ends the process if the loop has not ended a second after a signal.
        let watched = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !watched.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
            let _ = ratatui::try_restore();
            std::process::exit(i32::from(crate::exit::INTERRUPTED));
        });
        Ok(Self { terminal, stop })
    }

    /// A signal asked the dashboard to end.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}
