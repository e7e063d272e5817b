//! `RawPool`'s side of the guard contract ([`AnyPool`]): what a guard calls on its pool,
//! each a forward to the life-cycle step in `checkin.rs` / `checkout.rs`.

use core::time::Duration;

use crate::clock::Clock;
use crate::deadline::Deadline;
use crate::error::CheckoutError;
use crate::events::{Events, InvalidateReason};
use crate::guard::{sealed, AnyPool, TokenOf};
use crate::manager::Manager;
use crate::slot::{Entry, Storage};
use crate::waiters::Waiters;

use super::RawPool;

impl<M: Manager, E, K, I, S: Storage<M::Connection, I>, W> sealed::Sealed
    for RawPool<M, E, K, I, S, W>
{
}

impl<M, E, K, I, S, W> AnyPool for RawPool<M, E, K, I, S, W>
where
    M: Manager,
    E: Events<M::Connection>,
    K: Clock,
    I: Default,
    S: Storage<M::Connection, I>,
    W: Waiters,
{
    type Manager = M;
    type Info = I;

    #[inline(always)]
    fn __entry<'a>(&'a self, token: &'a TokenOf<Self>) -> &'a Entry<M::Connection, I> {
        self.token_entry(token)
    }
    #[inline(always)]
    fn __entry_mut<'a>(&'a self, token: &'a mut TokenOf<Self>) -> &'a mut Entry<M::Connection, I> {
        self.token_entry_mut(token)
    }
    #[inline]
    fn __index(&self, token: &TokenOf<Self>) -> u32 {
        self.token_index(token)
    }
    #[inline(always)]
    fn __reset_limit(&self) -> Option<Duration> {
        self.settings().reset_limit
    }
    #[inline(always)]
    fn __checkin(&self, token: TokenOf<Self>, limit: Option<Duration>) -> Result<(), M::Error> {
        self.checkin(token, limit)
    }
    fn __checkin_in_place(
        &self,
        token: TokenOf<Self>,
        limit: Option<Duration>,
    ) -> Result<TokenOf<Self>, M::Error> {
        self.checkin_in_place(token, limit)
    }
    fn __return_kept(&self, token: TokenOf<Self>) {
        self.return_kept(token)
    }
    fn __checkout_kept<D: Deadline>(
        &self,
        token: TokenOf<Self>,
        deadline: &D,
    ) -> Result<TokenOf<Self>, CheckoutError<M::Error>> {
        self.checkout_kept(token, deadline)
    }
    fn __invalidate(&self, token: TokenOf<Self>) {
        self.invalidate_slot(token, InvalidateReason::User)
    }
    fn __invalidate_pool(&self, token: TokenOf<Self>) {
        self.invalidate_pool_slot(token)
    }
    fn __is_disconnect(&self, error: &M::Error) -> bool {
        self.manager().is_disconnect(error)
    }
    fn __soft_invalidate(&self, token: &mut TokenOf<Self>) {
        self.soft_invalidate_slot(token)
    }
    fn __detach(&self, token: TokenOf<Self>) -> M::Connection {
        self.detach_slot(token)
    }
}
