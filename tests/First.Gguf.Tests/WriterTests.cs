using First.Tests;
using First.Gguf.Tests.Reference;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace First.Gguf.Tests;

/// <summary>The writer: round trips through our reader, files ggml accepts, and nothing half-written.</summary>
public sealed class WriterTests
{
    /// <summary>A small valid file with one key of every type (and nested arrays) and two tensors.</summary>
    internal static byte[] SmallFileWithEveryValueType(out long dataEnd)
    {
        using var stream = new MemoryStream();
        using (var w = new GgufWriter(stream, leaveOpen: true))
        {
            var m = w.Metadata;
            m.Add("general.architecture", GgufValue.FromString("llama"));
            m.Add("t.u8", GgufValue.FromUInt8(200));
            m.Add("t.i8", GgufValue.FromInt8(-100));
            m.Add("t.u16", GgufValue.FromUInt16(60000));
            m.Add("t.i16", GgufValue.FromInt16(-30000));
            m.Add("t.u32", GgufValue.FromUInt32(4_000_000_000));
            m.Add("t.i32", GgufValue.FromInt32(-2_000_000_000));
            m.Add("t.u64", GgufValue.FromUInt64(ulong.MaxValue));
            m.Add("t.i64", GgufValue.FromInt64(long.MinValue));
            m.Add("t.f32", GgufValue.FromFloat32(1e-5f));
            m.Add("t.f64", GgufValue.FromFloat64(Math.PI));
            m.Add("t.bool", GgufValue.FromBool(true));
            m.Add("t.string", GgufValue.FromString("héllo ▁wörld 😀"));
            m.Add("t.strings", GgufValue.FromArray(GgufArray.From(["<s>", string.Empty, "▁a"])));
            m.Add("t.floats", GgufValue.FromArray(GgufArray.From([0f, -1.5f, float.NaN])));
            m.Add("t.bools", GgufValue.FromArray(GgufArray.From([true, false])));
            m.Add("t.nested", GgufValue.FromArray(GgufArray.From([GgufArray.From([1, 2]), GgufArray.From(["x"])])));
            w.AddTensor("a", GgmlType.F32, 8);
            w.AddTensor("b", GgmlType.Q8_0, 32, 2);
            w.WriteTensorData(new byte[32]);
            w.WriteTensorData(Enumerable.Range(0, 68).Select(i => (byte)i).ToArray());
            w.Finish();
        }

        var bytes = stream.ToArray();
        using var file = GgufFile.FromBytes(bytes);
        var last = file.Tensors[^1];
        dataEnd = last.FileOffset + last.ByteSize;
        return bytes;
    }

    [Property(MaxTest = 300)]
    public Property Write_then_read_gives_the_same_metadata_and_tensors() =>
        Prop.ForAll(Arb.From(FileGen(allowNested: true)), spec =>
        {
            var bytes = Write(spec);
            using var file = GgufFile.FromBytes(bytes);
            AssertMatches(spec, file);

            // Writing what was read (file-backed arrays and all) gives the same bytes again.
            Assert.Equal(bytes, Rewrite(file));
        });

    [Property(MaxTest = 40)]
    public Property Files_we_write_are_read_by_ggml_as_we_read_them() =>
        Prop.ForAll(Arb.From(FileGen(allowNested: false)), spec =>
        {
            var ggml = GgmlReference.Require();
            var path = Path.Combine(Path.GetTempPath(), $"first-writer-{Guid.NewGuid():N}.gguf");
            try
            {
                File.WriteAllBytes(path, Write(spec));
                var expected = ggml.Parse(path);
                Assert.NotNull(expected);
                using var file = GgufFile.Open(path);
                ReferenceAssert.SameAsGgml(expected, file);
            }
            finally
            {
                File.Delete(path);
            }
        });

    [Fact]
    public void Rewriting_every_shared_file_gives_identical_bytes()
    {
        foreach (var path in TestPaths.AllSharedGgufFiles())
        {
            using var file = GgufFile.Open(path);
            Assert.True(File.ReadAllBytes(path).AsSpan().SequenceEqual(Rewrite(file)), Path.GetFileName(path));
        }
    }

    [Fact]
    public void Chunked_tensor_data_equals_one_piece()
    {
        byte[] Build(bool chunked)
        {
            using var s = new MemoryStream();
            using var w = new GgufWriter(s, leaveOpen: true);
            w.AddTensor("w", GgmlType.F32, 10);
            var data = Enumerable.Range(0, 40).Select(i => (byte)i).ToArray();
            if (chunked)
            {
                w.WriteTensorChunk(data.AsSpan(0, 7));
                w.WriteTensorChunk(data.AsSpan(7));
                w.EndTensorData();
            }
            else
            {
                w.WriteTensorData(data);
            }

            w.Finish();
            return s.ToArray();
        }

        Assert.Equal(Build(false), Build(true));
    }

    [Fact]
    public void An_unfinished_file_leaves_nothing_behind_and_keeps_the_old_file()
    {
        var dir = Directory.CreateTempSubdirectory("first-writer-").FullName;
        try
        {
            var target = Path.Combine(dir, "out.gguf");
            File.WriteAllText(target, "old");
            var w = GgufWriter.CreateFile(target);
            w.AddTensor("w", GgmlType.F32, 4);
            w.WriteTensorData(new byte[16]);
            Assert.Throws<InvalidOperationException>(() => w.AddTensor("late", GgmlType.F32, 4)); // the header is out
            Assert.Equal(2, Directory.GetFiles(dir).Length); // target and the temporary file
            w.Dispose(); // abandoned without Finish

            Assert.Equal("old", File.ReadAllText(target));
            Assert.Equal([target], Directory.GetFiles(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_finished_file_replaces_the_target()
    {
        var dir = Directory.CreateTempSubdirectory("first-writer-").FullName;
        try
        {
            var target = Path.Combine(dir, "out.gguf");
            File.WriteAllText(target, "old");
            using (var w = GgufWriter.CreateFile(target))
            {
                w.Metadata.Add("general.architecture", GgufValue.FromString("llama"));
                w.Finish();
            }

            using var file = GgufFile.Open(target);
            Assert.Equal("llama", file.Architecture);
            Assert.Equal([target], Directory.GetFiles(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Writer_refuses_what_it_cannot_write()
    {
        using var w = new GgufWriter(new MemoryStream());
        Assert.Throws<ArgumentException>(() => w.AddTensor("bad", GgmlType.Q4_0, 33));
        Assert.Throws<ArgumentException>(() => w.AddTensor("bad", GgmlType.F32));
        Assert.Throws<ArgumentException>(() => w.AddTensor(new string('n', 64), GgmlType.F32, 1));
        Assert.Throws<ArgumentException>(() => w.Metadata.Add(string.Empty, GgufValue.FromBool(true)));
        w.Metadata.Add("k", GgufValue.FromBool(true));
        Assert.Throws<ArgumentException>(() => w.Metadata.Add("k", GgufValue.FromBool(false)));
        w.AddTensor("w", GgmlType.F32, 4);
        Assert.Throws<ArgumentException>(() => w.AddTensor("w", GgmlType.F32, 4));
        Assert.Throws<ArgumentException>(() => w.WriteTensorData(new byte[15]));
        Assert.Throws<InvalidOperationException>(w.Finish);
    }

    /// <summary>What a random file holds: metadata in order and tensors with their bytes.</summary>
    public sealed record FileSpec(IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata, IReadOnlyList<TensorSpec> Tensors)
    {
        public override string ToString() =>
            $"{Metadata.Count} keys ({string.Join(", ", Metadata.Select(kv => $"{kv.Key}={kv.Value.ToDisplayString(3)}"))}); tensors: {string.Join(", ", Tensors)}";
    }

    public sealed record TensorSpec(string Name, GgmlType Type, long[] Shape, byte[] Data)
    {
        public override string ToString() => $"{Name} {Type} [{string.Join(",", Shape)}]";
    }

    internal static Gen<FileSpec> FileGen(bool allowNested)
    {
        var alignment = Gen.Elements<uint?>(null, 1u, 8u, 32u, 64u, 256u);
        var keys = Gen.Choose(0, 12).SelectMany(n => ValueGen(allowNested ? 3 : 1).ArrayOf(n));
        var tensors = Gen.Choose(0, 4).SelectMany(n => TensorGen().ArrayOf(n));
        return alignment.SelectMany(a => keys.SelectMany(values => tensors.Select(ts =>
        {
            var metadata = values.Select((v, i) => new KeyValuePair<string, GgufValue>($"test.key{i}.{v.Type.ToString().ToLowerInvariant()}", v)).ToList();
            if (a is { } align)
            {
                metadata.Insert(0, new(GgufFile.AlignmentKey, GgufValue.FromUInt32(align)));
            }

            var named = ts.Select((t, i) => t with { Name = $"blk.{i}.{t.Name}" }).ToList();
            return new FileSpec(metadata, named);
        })));
    }

    private static Gen<GgufValue> ValueGen(int depth)
    {
        var scalarTypes = Enum.GetValues<GgufValueType>().Where(t => t != GgufValueType.Array).ToArray();
        var scalar = Gen.Elements(scalarTypes).SelectMany(ScalarGen);
        if (depth <= 0)
        {
            return scalar;
        }

        var array = ArrayGen(depth).Select(GgufValue.FromArray);
        return Gen.Frequency((4, scalar), (2, array));
    }

    private static Gen<GgufValue> ScalarGen(GgufValueType type)
    {
        var u64 = ArbMap.Default.GeneratorFor<ulong>();
        return type switch
        {
            GgufValueType.String => StringGen().Select(GgufValue.FromString),
            GgufValueType.Bool => ArbMap.Default.GeneratorFor<bool>().Select(GgufValue.FromBool),
            // Floats from raw bits: NaN payloads, infinities, denormals and -0 included.
            GgufValueType.Float32 => u64.Select(b => GgufValue.FromFloat32(BitConverter.UInt32BitsToSingle((uint)b))),
            GgufValueType.Float64 => u64.Select(b => GgufValue.FromFloat64(BitConverter.UInt64BitsToDouble(b))),
            GgufValueType.UInt8 => u64.Select(b => GgufValue.FromUInt8((byte)b)),
            GgufValueType.Int8 => u64.Select(b => GgufValue.FromInt8((sbyte)b)),
            GgufValueType.UInt16 => u64.Select(b => GgufValue.FromUInt16((ushort)b)),
            GgufValueType.Int16 => u64.Select(b => GgufValue.FromInt16((short)b)),
            GgufValueType.UInt32 => u64.Select(b => GgufValue.FromUInt32((uint)b)),
            GgufValueType.Int32 => u64.Select(b => GgufValue.FromInt32((int)b)),
            GgufValueType.UInt64 => u64.Select(GgufValue.FromUInt64),
            GgufValueType.Int64 => u64.Select(b => GgufValue.FromInt64((long)b)),
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    private static Gen<GgufArray> ArrayGen(int depth)
    {
        var u64s = Gen.Choose(0, 16).SelectMany(n => ArbMap.Default.GeneratorFor<ulong>().ArrayOf(n));
        var options = new List<Gen<GgufArray>>
        {
            u64s.Select(v => GgufArray.From(v.Select(x => (byte)x).ToArray())),
            u64s.Select(v => GgufArray.From(v.Select(x => (sbyte)x).ToArray())),
            u64s.Select(v => GgufArray.From(v.Select(x => (ushort)x).ToArray())),
            u64s.Select(v => GgufArray.From(v.Select(x => (short)x).ToArray())),
            u64s.Select(v => GgufArray.From(v.Select(x => (uint)x).ToArray())),
            u64s.Select(v => GgufArray.From(v.Select(x => (int)x).ToArray())),
            u64s.Select(v => GgufArray.From(v)),
            u64s.Select(v => GgufArray.From(v.Select(x => (long)x).ToArray())),
            u64s.Select(v => GgufArray.From(v.Select(x => BitConverter.UInt32BitsToSingle((uint)x)).ToArray())),
            u64s.Select(v => GgufArray.From(v.Select(BitConverter.UInt64BitsToDouble).ToArray())),
            u64s.Select(v => GgufArray.From(v.Select(x => (x & 1) != 0).ToArray())),
            Gen.Choose(0, 12).SelectMany(n => StringGen().ArrayOf(n)).Select(GgufArray.From),
        };
        if (depth > 1)
        {
            options.Add(Gen.Choose(0, 4).SelectMany(n => ArrayGen(depth - 1).ArrayOf(n)).Select(GgufArray.From));
        }

        return Gen.OneOf(options);
    }

    private static Gen<string> StringGen()
    {
        // Pieces a tokenizer vocabulary really holds: ASCII, multi-byte UTF-8, emoji (surrogate pairs), NUL, controls.
        var piece = Gen.Elements("a", "Z", " ", "▁", "é", "ß", "日本", "😀", "\n", "\t", "\0", "<0x0A>", "\"", "\\", "Ġ");
        return Gen.Choose(0, 8).SelectMany(n => piece.ArrayOf(n)).Select(string.Concat);
    }

    private static Gen<TensorSpec> TensorGen() =>
        from type in Gen.Elements(GgmlTypes.All.Select(t => t.Type).ToArray())
        from nDims in Gen.Choose(1, 4)
        from blocks in Gen.Choose(1, 3)
        from rest in Gen.Choose(1, 3).ArrayOf(nDims - 1)
        from seed in ArbMap.Default.GeneratorFor<int>()
        let info = GgmlTypes.Get(type)
        let shape = new long[] { blocks * info.BlockSize }.Concat(rest.Select(r => (long)r)).ToArray()
        let bytes = shape.Skip(1).Aggregate(1L, (a, b) => a * b) * info.RowBytes(shape[0])
        select new TensorSpec(info.Name, type, shape, RandomBytes(seed, (int)bytes));

    private static byte[] RandomBytes(int seed, int n)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static byte[] Write(FileSpec spec)
    {
        using var s = new MemoryStream();
        using (var w = new GgufWriter(s, leaveOpen: true))
        {
            foreach (var (k, v) in spec.Metadata)
            {
                w.Metadata.Add(k, v);
            }

            foreach (var t in spec.Tensors)
            {
                w.AddTensor(t.Name, t.Type, t.Shape);
            }

            foreach (var t in spec.Tensors)
            {
                w.WriteTensorData(t.Data);
            }

            w.Finish();
        }

        return s.ToArray();
    }

    /// <summary>Writes back everything a file holds, through the writer.</summary>
    internal static byte[] Rewrite(GgufFile file)
    {
        using var s = new MemoryStream();
        using (var w = new GgufWriter(s, file.Version, leaveOpen: true))
        {
            foreach (var (k, v) in file.Metadata)
            {
                w.Metadata.Add(k, v);
            }

            foreach (var t in file.Tensors)
            {
                w.AddTensor(t.Name, t.Type, [.. t.Shape]);
            }

            foreach (var t in file.Tensors)
            {
                w.WriteTensorData(file.GetTensorBytes(t));
            }

            w.Finish();
        }

        return s.ToArray();
    }

    private static void AssertMatches(FileSpec spec, GgufFile file)
    {
        Assert.Equal(spec.Metadata.Select(kv => kv.Key), file.Metadata.Keys);
        for (var i = 0; i < spec.Metadata.Count; i++)
        {
            Assert.True(spec.Metadata[i].Value.Equals(file.Metadata[i].Value), $"{spec.Metadata[i].Key}: {spec.Metadata[i].Value} != {file.Metadata[i].Value}");
        }

        Assert.Equal(spec.Tensors.Count, file.Tensors.Count);
        for (var i = 0; i < spec.Tensors.Count; i++)
        {
            var (expected, actual) = (spec.Tensors[i], file.Tensors[i]);
            Assert.Equal(expected.Name, actual.Name);
            Assert.Equal(expected.Type, actual.Type);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.True(file.GetTensorBytes(actual).SequenceEqual(expected.Data), $"{actual.Name}: data differs");
            Assert.Equal(0, actual.FileOffset % file.Alignment);
        }
    }
}
