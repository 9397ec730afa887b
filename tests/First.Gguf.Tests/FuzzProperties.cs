using First.Tests;
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace First.Gguf.Tests;

/// <summary>
/// Damaged copies of real files (every GGUF in shared/ and a small file with every value type):
/// each one either parses, and then every value and tensor byte it hands out can be read, or
/// throws <see cref="GgufFormatException"/>. Nothing else: no other exception, no crash, no hang.
/// </summary>
public sealed class FuzzProperties
{
    private static readonly Lazy<Seed[]> s_seeds = new(LoadSeeds);

    /// <summary>Values that break length and count fields in interesting ways.</summary>
    private static readonly ulong[] s_interesting =
    [
        0, 1, 2, 3, 7, 8, 31, 32, 33, 63, 64, 255, 256, 4095, 65535, 65536,
        int.MaxValue, (ulong)int.MaxValue + 1, uint.MaxValue, (ulong)uint.MaxValue + 1,
        1UL << 40, 1UL << 60, long.MaxValue, (ulong)long.MaxValue + 1, ulong.MaxValue - 1, ulong.MaxValue,
    ];

    public enum Kind
    {
        Truncate,
        SetByte,
        SetU32,
        SetU64,
        Insert,
        Delete,
    }

    [Property(MaxTest = 4000)]
    public Property Damaged_files_parse_or_throw_GgufFormatException() =>
        Prop.ForAll(Arb.From(CaseGen()), c =>
        {
            var seed = s_seeds.Value[c.File];
            var bytes = c.Mutations.Aggregate(seed.Bytes, (b, m) => Apply(b, m, seed.StructureEnd));
            GgufFile file;
            try
            {
                file = GgufFile.FromBytes(bytes);
            }
            catch (GgufFormatException)
            {
                return;
            }

            using (file)
            {
                TouchEverything(file);
            }
        });

    public sealed record Mutation(Kind Kind, double Where, bool InStructure, ulong Value, int Length)
    {
        public override string ToString() => $"{Kind} at {(InStructure ? "structure" : "anywhere")} {Where:F4} value {Value} length {Length}";
    }

    public sealed record Case(int File, Mutation[] Mutations)
    {
        public override string ToString() => $"{s_seeds.Value[File].Name}: {string.Join("; ", Mutations.AsEnumerable())}";
    }

    /// <summary>Reads every value and touches the first and last byte of every tensor.</summary>
    private static void TouchEverything(GgufFile file)
    {
        foreach (var (_, value) in file.Metadata)
        {
            Touch(value);
        }

        try
        {
            _ = file.ModelInfo;
        }
        catch (GgufFormatException)
        {
            // a key of the wrong type: a clear error is the right answer
        }

        var sum = 0;
        foreach (var t in file.Tensors)
        {
            var data = file.GetTensorBytes(t);
            if (!data.IsEmpty)
            {
                sum += data[0] + data[^1];
            }
        }

        GC.KeepAlive(sum);
    }

    private static void Touch(GgufValue value)
    {
        if (value.Type != GgufValueType.Array)
        {
            _ = value.ToDisplayString();
            return;
        }

        var array = value.AsArray();
        // The head and the tail of long arrays (a vocabulary holds 10^5 strings) are enough to find bad offsets.
        var indices = array.Count <= 512 ? Enumerable.Range(0, (int)array.Count).Select(i => (long)i)
            : Enumerable.Range(0, 256).Select(i => (long)i).Concat(Enumerable.Range(0, 256).Select(i => array.Count - 1 - i));
        foreach (var i in indices)
        {
            try
            {
                Touch(array.GetValue(i));
            }
            catch (GgufFormatException)
            {
                // invalid UTF-8 in an array string is reported when it is read
                _ = array.GetStringBytes(i).Length;
            }
        }
    }

    private static byte[] Apply(byte[] input, Mutation m, long structureEnd)
    {
        var limit = m.InStructure ? Math.Min(structureEnd, input.Length) : input.Length;
        var at = (int)Math.Clamp((long)(m.Where * limit), 0, Math.Max(0, input.Length - 1));
        var b = (byte[])input.Clone();
        switch (m.Kind)
        {
            case Kind.Truncate:
                return input[..at];
            case Kind.SetByte when b.Length > 0:
                b[at] = (byte)m.Value;
                return b;
            case Kind.SetU32 when b.Length >= 4:
                BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(Math.Min(at, b.Length - 4)), (uint)m.Value);
                return b;
            case Kind.SetU64 when b.Length >= 8:
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(Math.Min(at, b.Length - 8)), m.Value);
                return b;
            case Kind.Insert:
                var insert = new byte[m.Length];
                new Random((int)m.Value).NextBytes(insert);
                return [.. input[..at], .. insert, .. input[at..]];
            case Kind.Delete:
                return [.. input[..at], .. input[Math.Min(input.Length, at + m.Length)..]];
            default:
                return b;
        }
    }

    private static Gen<Case> CaseGen()
    {
        var value = Gen.Frequency(
            (3, Gen.Elements(s_interesting)),
            (1, ArbMap.Default.GeneratorFor<ulong>()),
            (1, Gen.Choose(0, 45).Select(i => (ulong)i))); // type ids, both value types and ggml types
        var mutation =
            from kind in Gen.Elements(Enum.GetValues<Kind>())
            from position in Gen.Choose(0, 1_000_000).Select(x => x / 1_000_000.0)
            from inStructure in Gen.Frequency((4, Gen.Constant(true)), (1, Gen.Constant(false)))
            from v in value
            from length in Gen.Choose(1, 64)
            select new Mutation(kind, position, inStructure, v, length);
        return
            from file in Gen.Choose(0, s_seeds.Value.Length - 1)
            from count in Gen.Frequency((6, Gen.Constant(1)), (3, Gen.Choose(2, 4)))
            from mutations in mutation.ArrayOf(count)
            select new Case(file, mutations);
    }

    private sealed record Seed(string Name, byte[] Bytes, long StructureEnd);

    private static Seed[] LoadSeeds()
    {
        var seeds = new List<Seed> { new("every-value-type", WriterTests.SmallFileWithEveryValueType(out _), long.MaxValue) };
        foreach (var path in TestPaths.AllSharedGgufFiles())
        {
            var bytes = File.ReadAllBytes(path);
            using var file = GgufFile.FromBytes(bytes);
            // Damage aimed at the header, metadata and tensor table, where the structure is.
            seeds.Add(new Seed(Path.GetFileName(path), bytes, file.Tensors.Count > 0 ? file.DataOffset : bytes.Length));
        }

        return [.. seeds];
    }
}
