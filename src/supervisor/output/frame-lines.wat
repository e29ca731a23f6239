;; frame-lines.wat: the supervisor's log-flood hot path, in WebAssembly with 128-bit SIMD.
;;
;; Frames a run of whole lines (joined by \n, without the last newline) as JSON records:
;;   prefix line1 "}\n prefix line2 "}\n ... prefix lineN "}\n
;; in one pass, 16 bytes at a time: the checks (no byte JSON would have to escape, no line starting
;; with `{`, no line over the limit) and the newline search are vector compares; each line is then
;; two block copies. Anything it cannot frame as bytes returns -1 and the caller takes the line-by-line
;; path. Written by hand (compiled by build/frame-lines.ts with wabt) because no library frames
;; lines without first decoding them to strings, which is what made the supervisor the bottleneck of
;; a child that writes hundreds of MiB/s.
;;
;; frame(input, length, joint, prefixLength, output, maxLine) -> bytes written, or -1
;;   input .. input+length          the lines; the caller puts 16 bytes of 'a' after them
;;   joint .. joint+3+prefixLength  `"}\n` followed by the record prefix (which ends in `"`)
;;   output                         room for (length + 1) * (prefixLength + 4) + 16 bytes
;; Reads up to 15 bytes past the joint too (the caller leaves 16 bytes between the regions).
(module
  (memory (export "memory") 1)
  ;; Copies n bytes forwards in 16-byte blocks, writing up to 15 bytes past the end (the next copy
  ;; overwrites them; the caller leaves room). Inline vector moves beat memory.copy, which is a
  ;; call out of the module, for lines of about 100 bytes.
  (func $copy (param $to i32) (param $from i32) (param $n i32)
    (local $k i32)
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (v128.store align=1 (i32.add (local.get $to) (local.get $k))
                    (v128.load align=1 (i32.add (local.get $from) (local.get $k))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $blocks))))
  (func (export "frame")
    (param $in i32) (param $len i32) (param $joint i32) (param $plen i32)
    (param $out i32) (param $maxLine i32) (result i32)
    (local $end i32) (local $i i32) (local $o i32) (local $start i32)
    (local $v v128) (local $nl v128) (local $mask i32) (local $pos i32) (local $n i32)
    (local.set $end (i32.add (local.get $in) (local.get $len)))
    ;; the first record's prefix
    (call $copy (local.get $out) (i32.add (local.get $joint) (i32.const 3)) (local.get $plen))
    (local.set $o (i32.add (local.get $out) (local.get $plen)))
    (local.set $start (local.get $in))
    (if (i32.and (i32.lt_u (local.get $in) (local.get $end))
                 (i32.eq (i32.load8_u (local.get $in)) (i32.const 123)))
      (then (return (i32.const -1))))
    (local.set $i (local.get $in))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (v128.load align=1 (local.get $i)))
        (local.set $nl (i8x16.eq (local.get $v) (i8x16.splat (i32.const 10))))
        ;; control characters but \n, quote and backslash: JSON would escape them
        (if (v128.any_true
              (v128.or
                (v128.andnot (i8x16.lt_u (local.get $v) (i8x16.splat (i32.const 32))) (local.get $nl))
                (v128.or (i8x16.eq (local.get $v) (i8x16.splat (i32.const 34)))
                         (i8x16.eq (local.get $v) (i8x16.splat (i32.const 92))))))
          (then (return (i32.const -1))))
        (local.set $mask (i8x16.bitmask (local.get $nl)))
        (block $lines_done
          (loop $lines
            (br_if $lines_done (i32.eqz (local.get $mask)))
            (local.set $pos (i32.add (local.get $i) (i32.ctz (local.get $mask))))
            (local.set $n (i32.sub (local.get $pos) (local.get $start)))
            (if (i32.gt_u (local.get $n) (local.get $maxLine)) (then (return (i32.const -1))))
            (call $copy (local.get $o) (local.get $start) (local.get $n))
            (local.set $o (i32.add (local.get $o) (local.get $n)))
            (call $copy (local.get $o) (local.get $joint) (i32.add (local.get $plen) (i32.const 3)))
            (local.set $o (i32.add (local.get $o) (i32.add (local.get $plen) (i32.const 3))))
            (local.set $start (i32.add (local.get $pos) (i32.const 1)))
            ;; a line of the child's own JSON goes the slow way (its fields are merged)
            (if (i32.eq (i32.load8_u (local.get $start)) (i32.const 123))
              (then (return (i32.const -1))))
            (local.set $mask (i32.and (local.get $mask) (i32.sub (local.get $mask) (i32.const 1))))
            (br $lines)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $blocks)))
    ;; the last line and its `"}\n`
    (local.set $n (i32.sub (local.get $end) (local.get $start)))
    (if (i32.gt_u (local.get $n) (local.get $maxLine)) (then (return (i32.const -1))))
    (call $copy (local.get $o) (local.get $start) (local.get $n))
    (local.set $o (i32.add (local.get $o) (local.get $n)))
    (call $copy (local.get $o) (local.get $joint) (i32.const 3))
    (i32.sub (i32.add (local.get $o) (i32.const 3)) (local.get $out))))
