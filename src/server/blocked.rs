//! A connection whose command waits for keys (BLPOP and kin): it registers with the store's
//! waiters and runs the command again each time one of its keys is written, until the command
//! is served, the time is up, CLIENT UNBLOCK says so, or the client goes away. Meanwhile the
//! connection runs nothing else, as Redis blocks the whole client.

use crate::client::{Action, Block, ClientState};
use crate::command::{self, Ctx};
use crate::node::Node;
use crate::resp::{Args, Out, OwnedArgs};
use crate::store::waiters::{Unblocked, Waiter};
use crate::util::time::now_ms;

/// Waits as described above; the reply is in `out` when it returns. False when the client
/// closed its connection meanwhile.
pub async fn wait(
    node: &Node,
    client: &mut ClientState,
    out: &mut Out,
    stream: &super::conn::Conn,
    args: &OwnedArgs,
    b: Block,
) -> bool {
    let ws = &node.store.waiters;
    let w = Waiter::new(client.id);
    ws.register(b.db, &b.keys, &w);
    let deadline = b.deadline.map(tokio::time::Instant::from_std);
    // Until the client sends something more (its next commands wait their turn), the socket
    // is watched for the client going away.
    let mut watch = true;
    let mut served = false;
    let mut alive = true;
    loop {
        // The first try also covers a write made between the command's first run and the
        // registration above.
        let mark = out.buf.len();
        run_again(node, client, out, args.args());
        match client.action.take() {
            Some(Action::Block(_)) => {}
            // A key that became another type does not serve the client: Redis keeps it
            // waiting for one that holds what it pops.
            None if out.buf.get(mark) == Some(&b'-') => out.buf.truncate(mark),
            other => {
                client.action = other;
                served = true;
                break;
            }
        }
        if w.unblocked().is_none() {
            w.forget_wakeups();
        }
        let mut peek = [0u8; 1];
        tokio::select! {
            _ = w.woken() => match w.unblocked() {
                Some(Unblocked::Timeout) => {
                    timed_out(out, &b);
                    break;
                }
                Some(Unblocked::Error) => {
                    out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
                    break;
                }
                None => {}
            },
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                timed_out(out, &b);
                break;
            }
            r = stream.peek(&mut peek), if watch => match r {
                Ok(0) | Err(_) => {
                    alive = false;
                    break;
                }
                Ok(_) => watch = false,
            },
        }
    }
    ws.done(b.db, &b.keys, &w, served);
    alive
}

/// Runs a command once more at the current time: a blocked client's retry, a command after
/// its keys were repaired or its owner left.
pub fn run_again(node: &Node, client: &mut ClientState, out: &mut Out, args: Args<'_>) {
    let mut cx = Ctx {
        node,
        client,
        out,
        now: now_ms(),
        command: None,
    };
    command::execute(&mut cx, args);
}

fn timed_out(out: &mut Out, b: &Block) {
    let proto = std::mem::replace(&mut out.proto, b.proto);
    if b.null_array {
        out.null_array();
    } else {
        out.null();
    }
    out.proto = proto;
}
