namespace First.Gguf;

/// <summary>
/// The tensor element types of ggml, with the numeric ids GGUF files store.
/// Source: <c>enum ggml_type</c> in ggml/include/ggml.h (llama.cpp). Ids 4, 5 (Q4_2, Q4_3),
/// 31-33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) and 36-38 (IQ4_NL_4_4, ...) were removed upstream and
/// are refused by the reader. The list is that of the ggml in node-llama-cpp 3.22.1, the reference
/// this project tests against (GGML_TYPE_COUNT = 43 there).
/// </summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
    NVFP4 = 40,
    Q1_0 = 41,
    Q2_0 = 42,
}

/// <summary>Block geometry of one <see cref="GgmlType"/>: how many elements a block holds and how many bytes it takes.</summary>
/// <param name="Type">The type.</param>
/// <param name="Name">ggml's name for it (as <c>ggml_type_name</c> returns).</param>
/// <param name="BlockSize">Elements per block (1 for plain scalar types).</param>
/// <param name="BytesPerBlock">Bytes per block.</param>
/// <param name="IsQuantized">Whether ggml calls it a quantized type.</param>
public readonly record struct GgmlTypeInfo(GgmlType Type, string Name, int BlockSize, int BytesPerBlock, bool IsQuantized)
{
    /// <summary>Bytes a row of <paramref name="elements"/> elements takes, or -1 when the count is not a whole number of blocks or overflows.</summary>
    public long RowBytes(long elements)
    {
        if (elements < 0 || elements % BlockSize != 0)
        {
            return -1;
        }

        var blocks = elements / BlockSize;
        return blocks > long.MaxValue / BytesPerBlock ? -1 : blocks * BytesPerBlock;
    }
}

/// <summary>The ggml type table: block size and block bytes for every type id llama.cpp defines.</summary>
public static class GgmlTypes
{
    // Block sizes and byte counts from the block structs in ggml/src/ggml-common.h and the
    // type_traits table in ggml/src/ggml.c (QK_K = 256). A test compares every row with
    // ggml_blck_size / ggml_type_size of llama.cpp's own library.
    private static readonly GgmlTypeInfo[] s_byId = Build(
    [
        new(GgmlType.F32, "f32", 1, 4, false),
        new(GgmlType.F16, "f16", 1, 2, false),
        new(GgmlType.Q4_0, "q4_0", 32, 18, true),     // f16 d; u8 qs[16]
        new(GgmlType.Q4_1, "q4_1", 32, 20, true),     // f16 d, m; u8 qs[16]
        new(GgmlType.Q5_0, "q5_0", 32, 22, true),     // f16 d; u8 qh[4]; u8 qs[16]
        new(GgmlType.Q5_1, "q5_1", 32, 24, true),     // f16 d, m; u8 qh[4]; u8 qs[16]
        new(GgmlType.Q8_0, "q8_0", 32, 34, true),     // f16 d; i8 qs[32]
        new(GgmlType.Q8_1, "q8_1", 32, 36, true),     // f16 d, s; i8 qs[32]
        new(GgmlType.Q2_K, "q2_K", 256, 84, true),    // u8 scales[16]; u8 qs[64]; f16 d, dmin
        new(GgmlType.Q3_K, "q3_K", 256, 110, true),   // u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d
        new(GgmlType.Q4_K, "q4_K", 256, 144, true),   // f16 d, dmin; u8 scales[12]; u8 qs[128]
        new(GgmlType.Q5_K, "q5_K", 256, 176, true),   // f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
        new(GgmlType.Q6_K, "q6_K", 256, 210, true),   // u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
        new(GgmlType.Q8_K, "q8_K", 256, 292, true),   // f32 d; i8 qs[256]; i16 bsums[16]
        new(GgmlType.IQ2_XXS, "iq2_xxs", 256, 66, true),
        new(GgmlType.IQ2_XS, "iq2_xs", 256, 74, true),
        new(GgmlType.IQ3_XXS, "iq3_xxs", 256, 98, true),
        new(GgmlType.IQ1_S, "iq1_s", 256, 50, true),
        new(GgmlType.IQ4_NL, "iq4_nl", 32, 18, true),
        new(GgmlType.IQ3_S, "iq3_s", 256, 110, true),
        new(GgmlType.IQ2_S, "iq2_s", 256, 82, true),
        new(GgmlType.IQ4_XS, "iq4_xs", 256, 136, true),
        new(GgmlType.I8, "i8", 1, 1, false),
        new(GgmlType.I16, "i16", 1, 2, false),
        new(GgmlType.I32, "i32", 1, 4, false),
        new(GgmlType.I64, "i64", 1, 8, false),
        new(GgmlType.F64, "f64", 1, 8, false),
        new(GgmlType.IQ1_M, "iq1_m", 256, 56, true),
        new(GgmlType.BF16, "bf16", 1, 2, false),
        new(GgmlType.TQ1_0, "tq1_0", 256, 54, true),
        new(GgmlType.TQ2_0, "tq2_0", 256, 66, true),
        new(GgmlType.MXFP4, "mxfp4", 32, 17, true),   // u8 e (E8M0); u8 qs[16]
        new(GgmlType.NVFP4, "nvfp4", 64, 36, true),   // newer ggml (node-llama-cpp 3.22.1's build has it)
        new(GgmlType.Q1_0, "q1_0", 128, 18, true),
        new(GgmlType.Q2_0, "q2_0", 64, 18, true),
    ]);

    /// <summary>Every type the table knows, in id order.</summary>
    public static IEnumerable<GgmlTypeInfo> All => s_byId.Where(t => t.BlockSize != 0);

    /// <summary>The geometry of type id <paramref name="id"/>, or false for an id ggml does not (or no longer) define.</summary>
    public static bool TryGet(uint id, out GgmlTypeInfo info)
    {
        if (id < (uint)s_byId.Length && s_byId[id].BlockSize != 0)
        {
            info = s_byId[id];
            return true;
        }

        info = default;
        return false;
    }

    /// <summary>The geometry of a known type.</summary>
    public static GgmlTypeInfo Get(GgmlType type) =>
        TryGet((uint)type, out var info) ? info : throw new ArgumentOutOfRangeException(nameof(type), type, "not a ggml type");

    /// <summary>ggml's lower-case name, or the number for an unknown id.</summary>
    public static string NameOf(uint id) => TryGet(id, out var info) ? info.Name : $"type {id}";

    private static GgmlTypeInfo[] Build(GgmlTypeInfo[] rows)
    {
        var table = new GgmlTypeInfo[rows.Max(r => (int)r.Type) + 1];
        foreach (var row in rows)
        {
            table[(int)row.Type] = row;
        }

        return table;
    }
}
