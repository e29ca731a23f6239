;; frame-lines.wat: the supervisor's log-flood hot path, in WebAssembly with 128-bit SIMD.
;;
;; Frames a run of whole lines (joined by \n, without the last newline) as JSON records:
;;   prefix line1 "}\n prefix line2 "}\n ... prefix lineN "}\n
;; in one pass, 16 bytes at a time. Each block is stored straight to its place in the record as
;; it is checked: one vector test finds any byte below 0x20, quote or backslash (a newline among
;; them), so a block of plain text costs a load, a store and that test. A newline ends the record
;; with one block copy of the joint, and the next block is loaded from just after it (bytes of the
;; block beyond the newline are checked and stored again from there). No line starting with `{`,
;; none over the limit. Anything it cannot frame as bytes returns -1 and the caller takes the
;; line-by-line path. Written by hand (compiled by build/frame-lines.ts with wabt) because no
;; library frames lines without first decoding them to strings, which is what made the supervisor
;; the bottleneck of a child that writes hundreds of MiB/s.
;;
;; frame(input, length, joint, prefixLength, output, maxLine) -> bytes written, or -1; the global
;; `ascii` tells afterwards whether every input byte was below 0x80 (else the caller checks UTF-8)
;;   input .. input+length          the lines; the caller puts 16 bytes of 'a' after them
;;   joint .. joint+3+prefixLength  `"}\n` followed by the record prefix (which ends in `"`)
;;   output                         room for (length + 1) * (prefixLength + 4) + 16 bytes
;; Reads up to 15 bytes past the joint too (the caller leaves 16 bytes between the regions).
(module
  (memory (export "memory") 1)
  (global $ascii (export "ascii") (mut i32) (i32.const 1))
  ;; Copies n bytes forwards in 16-byte blocks, writing up to 15 bytes past the end (the next store
  ;; overwrites them; the caller leaves room). Inline vector moves beat memory.copy, which is a
  ;; call out of the module, for records of about 100 bytes.
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
    (local $end i32) (local $i i32) (local $o i32) (local $start i32) (local $jlen i32)
    (local $v v128) (local $nl i32) (local $high v128) (local $mask i32) (local $n i32)
    (local.set $end (i32.add (local.get $in) (local.get $len)))
    (local.set $jlen (i32.add (local.get $plen) (i32.const 3)))
    ;; the first record's prefix; $o is where the current line's first byte goes
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
        ;; the block goes where it belongs in the current record (bytes past a newline in it are
        ;; overwritten by the joint and stored again from the next load)
        (v128.store align=1 (i32.add (local.get $o) (i32.sub (local.get $i) (local.get $start)))
                    (local.get $v))
        (local.set $high (v128.or (local.get $high) (local.get $v)))
        ;; control characters (\n among them), quote and backslash: JSON would escape all but \n
        (local.set $mask
          (i8x16.bitmask
            (v128.or (i8x16.lt_u (local.get $v) (i8x16.splat (i32.const 32)))
                     (v128.or (i8x16.eq (local.get $v) (i8x16.splat (i32.const 34)))
                              (i8x16.eq (local.get $v) (i8x16.splat (i32.const 92)))))))
        (if (i32.eqz (local.get $mask))
          (then
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $blocks)))
        ;; Only bytes up to the block's first newline count: the bytes after it are checked again
        ;; from the next load.
        (local.set $nl (i8x16.bitmask (i8x16.eq (local.get $v) (i8x16.splat (i32.const 10)))))
        (if (i32.and (i32.xor (local.get $mask) (local.get $nl))
                     (i32.xor (local.get $nl) (i32.sub (local.get $nl) (i32.const 1))))
          (then (return (i32.const -1))))
        (local.set $mask (local.get $nl))
        ;; a newline ends the line: its record's `"}\n` and the next record's prefix follow it
        (local.set $n (i32.sub (i32.add (local.get $i) (i32.ctz (local.get $mask))) (local.get $start)))
        (if (i32.gt_u (local.get $n) (local.get $maxLine)) (then (return (i32.const -1))))
        (local.set $o (i32.add (local.get $o) (local.get $n)))
        (call $copy (local.get $o) (local.get $joint) (local.get $jlen))
        (local.set $o (i32.add (local.get $o) (local.get $jlen)))
        (local.set $start (i32.add (local.get $start) (i32.add (local.get $n) (i32.const 1))))
        ;; a line of the child's own JSON goes the slow way (its fields are merged)
        (if (i32.eq (i32.load8_u (local.get $start)) (i32.const 123))
          (then (return (i32.const -1))))
        (local.set $i (local.get $start))
        (br $blocks)))
    ;; the last line and its `"}\n`
    (local.set $n (i32.sub (local.get $end) (local.get $start)))
    (if (i32.gt_u (local.get $n) (local.get $maxLine)) (then (return (i32.const -1))))
    (local.set $o (i32.add (local.get $o) (local.get $n)))
    (call $copy (local.get $o) (local.get $joint) (i32.const 3))
    (global.set $ascii (i32.eqz (i8x16.bitmask (local.get $high))))
    (i32.sub (i32.add (local.get $o) (i32.const 3)) (local.get $out))))
