// A flat open-addressing table from byte strings (NFLOG prefixes: a few dozen bytes, at
// most 127 from nft, 63 from iptables) to a small trivially copyable value: the
// classifier's cache (classes.h). A hit reads one slot (the key's full 64-bit hash and its
// length, compared before any byte) and one run of arena bytes holding the value and the
// key side by side; no node walk, no heap-held strings. Grows as entries arrive (16 slots
// to start); `capacity` bounds the entries: adding one more clears the table first.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <type_traits>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace netlog {

namespace prefix_table_detail {
inline std::uint64_t load8(const char *p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
inline std::uint64_t load4(const char *p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
// The 128-bit product's halves folded: one multiply mixes two words.
__extension__ typedef unsigned __int128 u128; // g++ and clang on 64-bit targets
inline std::uint64_t fold_mul(std::uint64_t a, std::uint64_t b) {
    const u128 r = static_cast<u128>(a) * b;
    return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
} // namespace prefix_table_detail

// A prefix hashed 16 bytes per multiply, inline (wyhash's scheme: a prefix of a few dozen
// bytes costs two or three multiplies; std::hash's out-of-line byte hash cost as much as
// the rest of the lookup).
struct PrefixHash {
    std::uint64_t operator()(std::string_view s) const {
        using namespace prefix_table_detail;
        constexpr std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
        const char *p = s.data();
        const std::size_t n = s.size();
        std::uint64_t seed = k0 ^ n, a, b;
        if (n <= 16) {
            if (n >= 8) {
                a = load8(p);
                b = load8(p + n - 8);
            } else if (n >= 4) {
                a = load4(p);
                b = load4(p + n - 4);
            } else if (n > 0) {
                a = std::uint64_t{static_cast<unsigned char>(p[0])} << 16 |
                    std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8 |
                    static_cast<unsigned char>(p[n - 1]);
                b = 0;
            } else {
                a = b = 0;
            }
        } else {
            std::size_t i = n;
            for (; i > 16; p += 16, i -= 16) seed = fold_mul(load8(p) ^ k1, load8(p + 8) ^ seed);
            a = load8(p + i - 16); // the last 16, overlapping
            b = load8(p + i - 8);
        }
        return fold_mul(k1 ^ n, fold_mul(a ^ k1, b ^ seed));
    }
};

template <class V, class Hash = PrefixHash> class PrefixTable {
    static_assert(std::is_trivially_copyable_v<V> && alignof(V) <= 8);

  public:
    explicit PrefixTable(std::size_t capacity) : capacity_(capacity) { clear_slots(min_slots); }

    // The value stored for `key`, or null.
    const V *find(std::string_view key) const {
        const std::uint64_t h = Hash{}(key);
        const std::size_t n = key.size();
        for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
            const Slot &s = slots_[i];
            // An empty slot's length (`empty`) is no key's: it fails here before any byte.
            if (s.hash == h && s.len == n && same(key_at(s), key.data(), n)) return value_at(s);
            if (s.len == empty) return nullptr;
        }
    }

    // Stores `v` for `key` (not in the table: find() said so) and returns the stored value.
    // At `capacity` entries the table is cleared first (its memory is kept for the next).
    const V &insert(std::string_view key, const V &v) {
        const std::size_t key_words = (key.size() + 7) / 8;
        const std::size_t words = value_words + key_words;
        if (size_ >= capacity_ || used_ + words > UINT32_MAX) clear();
        if ((size_ + 1) * 4 > (mask_ + 1) * 3) grow(); // load factor at most 3/4
        if (used_ + words > arena_words_) grow_arena(used_ + words);
        const auto off = static_cast<std::uint32_t>(used_);
        std::uint64_t *at = arena_.get() + off;
        ::new (static_cast<void *>(at)) V(v);
        if (key_words) {
            at[value_words + key_words - 1] = 0; // the bytes past the key: set, never read
            std::memcpy(at + value_words, key.data(), key.size());
        }
        used_ += words;
        const std::uint64_t h = Hash{}(key);
        std::size_t i = h & mask_;
        while (slots_[i].len != empty) i = (i + 1) & mask_;
        slots_[i] = Slot{h, off, static_cast<std::uint32_t>(key.size())};
        ++size_;
        return *value_at(slots_[i]);
    }

    std::size_t size() const { return size_; }
    std::size_t slots() const { return mask_ + 1; }

    void clear() {
        for (std::size_t i = 0; i <= mask_; ++i) slots_[i] = Slot{};
        size_ = 0;
        used_ = 0;
    }

  private:
    // Keys are shorter than 4 GiB (an NFLOG prefix is at most 64 KiB): no key has this length.
    static constexpr std::uint32_t empty = UINT32_MAX;
    static constexpr std::size_t min_slots = 16;
    static constexpr std::size_t value_words = (sizeof(V) + 7) / 8;
    struct Slot {
        std::uint64_t hash = 0;
        std::uint32_t off = 0; // in arena_, in 8-byte words: the value, then the key's bytes
        std::uint32_t len = empty;
    };

    const char *key_at(const Slot &s) const {
        return reinterpret_cast<const char *>(arena_.get() + s.off + value_words);
    }
    const V *value_at(const Slot &s) const {
        return std::launder(reinterpret_cast<const V *>(arena_.get() + s.off));
    }

    // Byte equality 16 bytes at a time, inline (a memcmp call and the registers kept across
    // it cost more than the compare of a prefix of a few dozen bytes).
    static bool same(const char *x, const char *y, std::size_t n) {
        using namespace prefix_table_detail;
        if (n >= 16) {
            const auto differ16 = [x, y](std::size_t i) {
#ifdef __SSE2__
                const __m128i u = _mm_loadu_si128(reinterpret_cast<const __m128i *>(x + i));
                const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(y + i));
                return _mm_movemask_epi8(_mm_cmpeq_epi8(u, v)) != 0xffff;
#else
                return ((load8(x + i) ^ load8(y + i)) | (load8(x + i + 8) ^ load8(y + i + 8))) != 0;
#endif
            };
            for (std::size_t i = 0; i + 16 < n; i += 16)
                if (differ16(i)) return false;
            return !differ16(n - 16); // the last 16, overlapping
        }
        if (n >= 8) return ((load8(x) ^ load8(y)) | (load8(x + n - 8) ^ load8(y + n - 8))) == 0;
        if (n >= 4) return ((load4(x) ^ load4(y)) | (load4(x + n - 4) ^ load4(y + n - 4))) == 0;
        for (std::size_t i = 0; i < n; ++i)
            if (x[i] != y[i]) return false;
        return true;
    }

    void clear_slots(std::size_t n) {
        slots_ = std::make_unique<Slot[]>(n);
        mask_ = n - 1;
    }

    // Twice the slots; every entry re-placed by its stored hash (no key is hashed again).
    void grow() {
        auto old = std::move(slots_);
        const std::size_t old_n = mask_ + 1;
        clear_slots(old_n * 2);
        for (std::size_t j = 0; j < old_n; ++j) {
            if (old[j].len == empty) continue;
            std::size_t i = old[j].hash & mask_;
            while (slots_[i].len != empty) i = (i + 1) & mask_;
            slots_[i] = old[j];
        }
    }

    // At least `need` words, doubling (offsets stay valid); the entries copied over.
    void grow_arena(std::size_t need) {
        std::size_t n = arena_words_ ? arena_words_ * 2 : 64;
        while (n < need) n *= 2;
        auto a = std::make_unique_for_overwrite<std::uint64_t[]>(n);
        if (used_) std::memcpy(a.get(), arena_.get(), used_ * 8);
        arena_ = std::move(a);
        arena_words_ = n;
    }

    std::size_t capacity_;
    std::unique_ptr<Slot[]> slots_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
    std::unique_ptr<std::uint64_t[]> arena_;
    std::size_t arena_words_ = 0, used_ = 0; // words allocated, words taken by entries
};

} // namespace netlog
