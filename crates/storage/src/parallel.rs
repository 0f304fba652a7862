//! Segments coded on several cores, delivered in order.
//!
//! Segments are independent (each sealed under its own nonce and coded on its own), so the
//! codec hands them round-robin to worker threads, each with its own coder, and takes the
//! results back in the same round-robin order: the output is byte for byte what one thread
//! produces. Reading the input and writing the outputs stay on the calling thread. Channels hold
//! one item per worker, so memory stays bounded: at most two segments per worker in flight.

use crate::codec::CodecError;
use std::sync::mpsc::sync_channel;

/// Most coding threads: beyond this the calling thread's reads, hashes and writes are the limit.
pub const MAX_CODING_THREADS: usize = 8;

/// Threads to code `segments` segments with: the machine's cores, at most
/// [`MAX_CODING_THREADS`], at most one per segment.
pub fn coding_threads(segments: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores
        .min(MAX_CODING_THREADS)
        .min(usize::try_from(segments).unwrap_or(usize::MAX))
        .max(1)
}

/// Runs `work` over the items `next` yields on `threads` workers (each with its own state from
/// `init`) and hands the results to `consume` in the order the items came. Stops at the first
/// error, whichever side it comes from.
pub fn ordered<I, O, S>(
    threads: usize,
    mut next: impl FnMut() -> Result<Option<I>, CodecError>,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, I) -> Result<O, CodecError> + Sync,
    mut consume: impl FnMut(O) -> Result<(), CodecError>,
) -> Result<(), CodecError>
where
    I: Send,
    O: Send,
{
    let threads = threads.max(1);
    let gone = || CodecError::Coding("a coding thread stopped".into());
    std::thread::scope(|scope| {
        let mut inputs = Vec::with_capacity(threads);
        let mut outputs = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (to_worker, from_caller) = sync_channel::<I>(1);
            let (to_caller, from_worker) = sync_channel::<Result<O, CodecError>>(1);
            let (init, work) = (&init, &work);
            scope.spawn(move || {
                let mut state = init();
                for item in from_caller {
                    if to_caller.send(work(&mut state, item)).is_err() {
                        break; // the caller stopped: nobody wants the rest
                    }
                }
            });
            inputs.push(to_worker);
            outputs.push(from_worker);
        }
        let (mut sent, mut taken, mut exhausted) = (0usize, 0usize, false);
        let mut feed = |sent: &mut usize, exhausted: &mut bool| -> Result<(), CodecError> {
            match next()? {
                Some(item) => {
                    inputs[*sent % threads].send(item).map_err(|_| gone())?;
                    *sent += 1;
                }
                None => *exhausted = true,
            }
            Ok(())
        };
        while sent < threads && !exhausted {
            feed(&mut sent, &mut exhausted)?;
        }
        while taken < sent {
            let result = outputs[taken % threads].recv().map_err(|_| gone())??;
            taken += 1;
            consume(result)?;
            if !exhausted {
                feed(&mut sent, &mut exhausted)?;
            }
        }
        Ok(())
    })
}

/// [`ordered`] over the segments `0..count` of a file, with the buffers segments are read into
/// recycled: `fill(s, buf)` reads segment `s` into a spare buffer on the calling thread,
/// `work(state, s, buf)` codes it on a worker, `consume(s, buf, output)` writes the result on the
/// calling thread in segment order, after which `buf` is reused.
pub fn segments<B, O, S>(
    count: u64,
    mut fill: impl FnMut(u64, &mut B) -> Result<(), CodecError>,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, u64, &B) -> Result<O, CodecError> + Sync,
    mut consume: impl FnMut(u64, &B, O) -> Result<(), CodecError>,
) -> Result<(), CodecError>
where
    B: Default + Send,
    O: Send,
{
    let spare: std::cell::RefCell<Vec<B>> = std::cell::RefCell::new(Vec::new());
    let mut next = 0u64;
    ordered(
        coding_threads(count),
        || {
            if next == count {
                return Ok(None);
            }
            let mut buf = spare.borrow_mut().pop().unwrap_or_default();
            fill(next, &mut buf)?;
            next += 1;
            Ok(Some((next - 1, buf)))
        },
        init,
        |state, (s, buf): (u64, B)| {
            let out = work(state, s, &buf)?;
            Ok((s, buf, out))
        },
        |(s, buf, out)| {
            consume(s, &buf, out)?;
            spare.borrow_mut().push(buf);
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order_whatever_the_thread_count() {
        for threads in 1..=5 {
            let mut items = (0u64..37).map(Some).chain(std::iter::once(None));
            let mut seen = Vec::new();
            ordered(
                threads,
                || Ok(items.next().flatten()),
                || 0u64,
                |calls, i| {
                    *calls += 1;
                    // Later items finish first on some workers: order must not depend on timing.
                    std::thread::sleep(std::time::Duration::from_micros(37 - i));
                    Ok(i * i)
                },
                |r| {
                    seen.push(r);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, (0u64..37).map(|i| i * i).collect::<Vec<_>>(), "{threads} threads");
        }
    }

    #[test]
    fn the_first_error_stops_the_run_from_either_side() {
        let mut n = 0u64;
        let worker_error = ordered(
            3,
            || {
                n += 1;
                Ok((n <= 100).then_some(n))
            },
            || (),
            |_, i| {
                if i == 7 {
                    Err(CodecError::Params("seven"))
                } else {
                    Ok(i)
                }
            },
            |_| Ok(()),
        );
        assert_eq!(worker_error, Err(CodecError::Params("seven")));
        let mut consumed = 0;
        let consumer_error = ordered(
            2,
            || Ok(Some(1u8)),
            || (),
            |_, i| Ok(i),
            |_| {
                consumed += 1;
                if consumed == 5 {
                    Err(CodecError::Params("enough"))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(consumer_error, Err(CodecError::Params("enough")));
    }
}
