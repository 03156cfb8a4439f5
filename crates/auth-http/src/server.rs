//! The HTTP server that serves authd's routes: what actix-web's `HttpServer` does, with each
//! client connection served through [`ContractStream`] so that even the answers actix-http
//! writes by itself (400, 408, 431) carry the contract's JSON error.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use actix_http::{HttpService, KeepAlive};
use actix_service::{IntoServiceFactory, ServiceFactoryExt, map_config};
use actix_web::dev::{AppConfig, Server, fn_service};
use actix_web::rt::net::TcpStream;
use actix_web::web;

use crate::AuthState;
use crate::connection::ContractStream;

/// How long a client may take to send a request head before it is answered 408, as
/// actix-web's own server allows.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing connection may take to shut down, as actix-web's own server allows.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Connections waiting to be accepted, as actix-web's own server allows.
const BACKLOG: i32 = 1024;

/// How a server runs: its workers, the blocking threads of each, and how it stops.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads, each with its own event loop (actix-web's default: one per core).
    pub workers: usize,
    /// Threads of each worker's blocking pool, where database work runs.
    pub blocking_threads: usize,
    /// How long a stopping server waits for requests in flight, in seconds.
    pub shutdown_timeout_secs: u64,
    /// Whether SIGINT and SIGTERM stop the server (off for servers inside tests).
    pub signals: bool,
}

/// A running server, and the addresses it listens on.
pub struct BoundServer {
    /// The server: await it, or stop it through its handle.
    pub server: Server,
    /// Where it listens (the real ports, when port 0 was asked for).
    pub addrs: Vec<SocketAddr>,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

/// Binds every address `bind` resolves to and serves authd's routes on them.
///
/// # Errors
/// When `bind` resolves to no address or an address cannot be bound.
pub fn bind(
    state: &web::Data<AuthState>,
    bind: &str,
    options: &ServerOptions,
) -> io::Result<BoundServer> {
    let listeners = bind
        .to_socket_addrs()?
        .map(listener)
        .collect::<io::Result<Vec<_>>>()?;
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{bind} names no address"),
        ));
    }
    serve(state, listeners, options)
}

/// Serves authd's routes on listeners bound already.
///
/// # Errors
/// When a listener's address cannot be read or it cannot be handed to the server.
pub fn serve(
    state: &web::Data<AuthState>,
    listeners: Vec<TcpListener>,
    options: &ServerOptions,
) -> io::Result<BoundServer> {
    let mut builder = Server::build()
        .workers(options.workers)
        .worker_max_blocking_threads(options.blocking_threads)
        .shutdown_timeout(options.shutdown_timeout_secs);
    if !options.signals {
        builder = builder.disable_signals();
    }
    let mut addrs = Vec::with_capacity(listeners.len());
    for listener in listeners {
        let addr = listener.local_addr()?;
        addrs.push(addr);
        let state = state.clone();
        let shutdown = builder.graceful_shutdown_signal();
        builder = builder.listen(format!("authd-{addr}"), listener, move || {
            let shutdown = shutdown.clone();
            let app = crate::app(state.clone())
                .into_factory()
                .map_err(|e: actix_web::Error| e.error_response());
            let http = HttpService::build()
                .keep_alive(KeepAlive::default())
                .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
                .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
                .local_addr(addr)
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                // No route reads the app's host or address from this configuration.
                .h1(map_config(app, |()| AppConfig::default()));
            fn_service(|io: TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok::<_, actix_http::error::DispatchError>((
                    ContractStream::new(io),
                    peer,
                )))
            })
            .and_then(http)
        })?;
    }
    Ok(BoundServer {
        server: builder.run(),
        addrs,
    })
}

/// A listening socket as actix-web's own server makes one: address reuse, and a backlog
/// of [`BACKLOG`].
fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
